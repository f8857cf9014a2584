from collections.abc import Callable

import pytest
from django.db import connection

from chats.models import Chat, Membership


@pytest.fixture
def room_of(make_user) -> Callable[[int], tuple[Chat, object]]:
    """`room_of(n)`: a group chat of n members (an owner and n - 1 made in bulk by SQL)."""

    def make(members: int) -> tuple[Chat, object]:
        owner = make_user()
        chat = Chat.objects.create(title=f"room of {members}", created_by=owner)
        Membership.objects.create(chat=chat, user=owner, role="owner")
        with connection.cursor() as cursor:
            cursor.execute(
                "with new_users as (insert into accounts_user (password, is_superuser, username, first_name,"
                " last_name, email, is_staff, is_active, date_joined) select '!', false,"
                " 'room' || %(chat)s || '-' || n, '', '', 'room' || %(chat)s || '-' || n || '@example.com', false,"
                " true, now() from generate_series(1, %(others)s) n returning id)"
                " insert into chats_membership (chat_id, user_id, role, joined_at)"
                " select %(chat)s, id, 'member', now() from new_users",
                {"chat": chat.pk, "others": members - 1},
            )
            cursor.execute("analyze chats_membership")
        return chat, owner

    return make
