"""Deleting a user goes through `user_delete`: each chat they own passes to an admin (else the
longest-standing member) or, empty, is deleted; they leave every chat; each step emits its
event; the Django admin's delete uses the same service."""

import pytest
from knox.models import AuthToken

from accounts.models import User
from accounts.services import token_create, user_delete
from chats.models import Chat, Membership, Message
from chats.services import chat_create, chat_member_add, message_create
from realtime.models import Event

pytestmark = pytest.mark.django_db

Role = Membership.Role


def _event_types_since(mark: int) -> list[tuple[str, int]]:
    return list(Event.objects.filter(id__gt=mark).order_by("id").values_list("type", "chat_id"))


def _mark() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_owned_chats_go_to_an_admin_then_the_oldest_member_empty_ones_go(team, make_user):
    owner = team.owner
    # A chat of the owner and two plain members: the one who joined first inherits it.
    first, second = make_user(), make_user()
    plain = chat_create(created_by=owner, title="plain", member_ids=[first.pk])
    chat_member_add(chat=plain, user=second, added_by=owner)
    alone = chat_create(created_by=owner, title="alone")
    elsewhere = chat_create(created_by=team.member, title="elsewhere", member_ids=[owner.pk])
    message, _ = message_create(chat_id=team.chat.pk, author=owner, text="my words")
    token_create(user=owner)
    mark = _mark()

    user_delete(user=owner)

    assert not User.objects.filter(pk=owner.pk).exists()
    assert team.chat.memberships.get(role=Role.OWNER).user == team.admin  # an admin first
    assert plain.memberships.get(role=Role.OWNER).user == first  # then the oldest member
    assert not Chat.objects.filter(pk=alone.pk).exists()
    assert set(elsewhere.memberships.values_list("user_id", flat=True)) == {team.member.pk}
    assert not Membership.objects.filter(user_id=owner.pk).exists()
    assert Message.objects.get(pk=message.pk).author is None  # the chat keeps its history
    events = _event_types_since(mark)
    assert sorted(events) == sorted(
        [
            ("member.updated", team.chat.pk),  # the owner steps down ...
            ("member.updated", team.chat.pk),  # ... the heir steps up
            ("member.removed", team.chat.pk),
            ("member.updated", plain.pk),
            ("member.updated", plain.pk),
            ("member.removed", plain.pk),
            ("chat.deleted", alone.pk),
            ("member.removed", elsewhere.pk),
            ("user.revoked", 0),  # their token went with them: their streams end (realtime.receivers)
        ]
    )
    assert not AuthToken.objects.filter(user_id=owner.pk).exists()


def test_the_admin_delete_uses_the_service(client, team):
    root = User.objects.create_superuser("root", "root@example.com", "pass-word-42")
    client.force_login(root)
    mark = _mark()
    response = client.post(f"/admin/accounts/user/{team.owner.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=team.owner.pk).exists()
    assert team.chat.memberships.get(role=Role.OWNER).user == team.admin
    assert ("member.removed", team.chat.pk) in _event_types_since(mark)


def test_the_admin_bulk_delete_uses_the_service(client, team):
    root = User.objects.create_superuser("root", "root@example.com", "pass-word-42")
    client.force_login(root)
    response = client.post(
        "/admin/accounts/user/",
        {"action": "delete_selected", "_selected_action": [team.owner.pk, team.admin.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert team.chat.memberships.get(role=Role.OWNER).user == team.member
    assert set(team.chat.memberships.values_list("user_id", flat=True)) == {team.member.pk}
