"""A chat of 10,000 members: what read state and the digest cost there (figures printed with -s)."""

import time

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import User
from chats.models import Chat, Membership
from chats.services import message_create
from notifications.digest.models import Digest, DigestScan, DigestSettings
from notifications.digest.services import digest_sweep
from reads.selectors import chat_read_states
from reads.services import read_marker_move

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

MEMBERS = 10_000


def _timed(function, repeat=20):
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return samples[len(samples) // 2], samples[-1]


@pytest.fixture
def big_room(make_user):
    owner = make_user()
    chat = Chat.objects.create(title="Everyone", created_by=owner)
    with connection.cursor() as cursor:
        cursor.execute(
            "insert into accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined, email_verified_at) select '', false, 'big' || n, '', '',"
            " 'big' || n || '@example.com', false, true, now(), now() from generate_series(1, %s) n",
            [MEMBERS - 1],
        )
        # The digest is off until a user turns it on: here everyone has (verified addresses).
        cursor.execute(
            f"insert into {DigestSettings._meta.db_table} (user_id, enabled, window_minutes, updated_at)"  # noqa: S608
            " select id, true, %s, now() from accounts_user where username like 'big%%'",
            [settings.NOTIFICATIONS_DIGEST_WINDOW_MINUTES],
        )
        cursor.execute(
            "insert into chats_membership (chat_id, user_id, role, joined_at)"
            " select %s, id, 'member', now() from accounts_user where username like 'big%%'",
            [chat.pk],
        )
        cursor.execute(
            "insert into reads_readmarker (membership_id, chat_id, user_id, last_read_id, updated_at)"
            " select id, chat_id, user_id, 0, now() from chats_membership where chat_id = %s",
            [chat.pk],
        )
    Membership.objects.create(chat=chat, user=owner, role="owner")
    # 2,000 messages of history, all read by everyone.
    with connection.cursor() as cursor:
        cursor.execute(
            "insert into chats_message (chat_id, author_id, text, created_at)"
            " select %s, %s, 'history ' || n, now() from generate_series(1, 2000) n",
            [chat.pk, owner.pk],
        )
        cursor.execute(
            "update reads_readmarker set last_read_id = (select max(id) from chats_message where chat_id = %s)"
            " where chat_id = %s",
            [chat.pk, chat.pk],
        )
        cursor.execute("analyze")
    DigestScan.objects.update_or_create(pk=1, defaults={"through_message_id": chat.messages.order_by("-id").first().pk})
    return chat, owner


def test_read_state_and_digest_cost_do_not_grow_with_the_chat(big_room, settings):
    chat, owner = big_room
    reader = User.objects.get(username="big1")
    assert Membership.objects.filter(chat=chat).count() == MEMBERS

    for n in range(30):
        message_create(chat_id=chat.pk, author=owner, text=f"new {n} @big1")
    list_p50, list_max = _timed(lambda: chat_read_states(user=reader))
    state = chat_read_states(user=reader)[chat.pk]
    assert (state.unread_count, state.mention_count) == (30, 30)

    newest = chat.messages.order_by("-id").first().pk
    ids = iter(range(newest - 29, newest + 1))
    read_p50, read_max = _timed(lambda: read_marker_move(chat_id=chat.pk, user=reader, up_to=next(ids)), repeat=20)

    settings.NOTIFICATIONS_DIGEST_MINUTE_SECONDS = 3600  # nothing becomes due during the test
    started = time.perf_counter()
    first = digest_sweep()
    first_ms = (time.perf_counter() - started) * 1000
    message_create(chat_id=chat.pk, author=owner, text="one more in the same window")
    started = time.perf_counter()
    second = digest_sweep()
    second_ms = (time.perf_counter() - started) * 1000

    print(
        f"\n{MEMBERS} members: chat list read state p50 {list_p50:.2f} ms (max {list_max:.2f});"
        f" read POST service p50 {read_p50:.2f} ms (max {read_max:.2f});"
        f" digest sweep opening {first['opened']} windows {first_ms:.0f} ms;"
        f" next message in the same window: {second['opened']} opened, {second_ms:.0f} ms"
    )
    assert first["opened"] == MEMBERS - 1, "every member but the author has unread messages"
    assert Digest.objects.filter(state="open").count() == MEMBERS - 1
    assert second["opened"] == 0, "a message in an open window schedules nothing"
    assert first["dispatched"] == second["dispatched"] == 0
    # Generous bounds for a shared 2-core machine; the figures above are what matters.
    assert list_p50 < 50 and read_p50 < 50
