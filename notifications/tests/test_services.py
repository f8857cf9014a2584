"""The member-added email in this process, over real SMTP, without a worker: who gets it,
what it says, and that a second send of the same email does nothing."""

import pytest
from django.db import transaction

from chats.models import Membership
from chats.services import chat_member_add
from notifications.models import SentNotification
from notifications.selectors import member_added_recipient_ids
from notifications.services import member_added_email_send, member_added_message_id

Role = Membership.Role
pytestmark = pytest.mark.django_db


def _recipients(membership: Membership, added_by) -> set[int]:
    return set(member_added_recipient_ids(membership=membership, added_by=added_by))


def test_owner_adding_a_member_notifies_the_other_admins_only(team, make_user):
    second_admin = make_user()
    chat_member_add(chat=team.chat, user=second_admin, role=Role.ADMIN, added_by=team.owner)
    membership = chat_member_add(chat=team.chat, user=make_user(), added_by=team.owner)
    assert _recipients(membership, team.owner) == {team.admin.pk, second_admin.pk}


def test_admin_adding_a_member_notifies_the_owner_and_other_admins(team, make_user):
    membership = chat_member_add(chat=team.chat, user=make_user(), added_by=team.admin)
    assert _recipients(membership, team.admin) == {team.owner.pk}


def test_a_new_admin_is_not_told_of_their_own_addition(team, make_user):
    membership = chat_member_add(chat=team.chat, user=make_user(), role=Role.ADMIN, added_by=team.owner)
    assert _recipients(membership, team.owner) == {team.admin.pk}


def test_system_path_notifies_every_admin(team, make_user):
    membership = chat_member_add(chat=team.chat, user=make_user(), added_by=None)
    assert _recipients(membership, None) == {team.owner.pk, team.admin.pk}


def test_pending_rows_are_written_with_the_membership(team, make_user):
    newcomer = make_user()
    membership = chat_member_add(chat=team.chat, user=newcomer, added_by=None)
    rows = SentNotification.objects.filter(membership=membership)
    assert {row.recipient_id for row in rows} == {team.owner.pk, team.admin.pk}
    assert all(row.sent_at is None and row.added_by_id is None for row in rows)


def test_no_rows_when_the_addition_rolls_back(team, make_user):
    newcomer = make_user()
    with pytest.raises(RuntimeError), transaction.atomic():
        chat_member_add(chat=team.chat, user=newcomer, added_by=team.owner)
        raise RuntimeError("the caller's transaction fails")
    assert not SentNotification.objects.filter(membership__user=newcomer).exists()


def test_email_is_sent_once_with_text_html_and_a_stable_message_id(team, make_user, mailbox):
    newcomer = make_user(username="newcomer")
    membership = chat_member_add(chat=team.chat, user=newcomer, added_by=team.owner)
    assert member_added_email_send(membership_id=membership.pk, recipient_id=team.admin.pk) is True
    assert member_added_email_send(membership_id=membership.pk, recipient_id=team.admin.pk) is False

    [mail] = mailbox.wait_for(lambda mails: len(mails) >= 1, timeout=10)
    assert mail.rcpt_tos == [team.admin.email]
    assert mail.subject == f'{team.owner.username} added newcomer to "Team"'
    assert mail.message_id == member_added_message_id(membership_id=membership.pk, recipient_id=team.admin.pk)
    for body in (mail.body("plain"), mail.body("html")):
        assert "newcomer" in body and "Team" in body and team.owner.username in body
    assert SentNotification.objects.get(membership=membership, recipient=team.admin).sent_at is not None
    assert mailbox.mails == [mail]


def test_a_removed_member_is_not_announced(team, make_user, mailbox):
    from chats.services import chat_member_remove

    newcomer = make_user()
    membership = chat_member_add(chat=team.chat, user=newcomer, added_by=team.owner)
    chat_member_remove(chat=team.chat, user_id=newcomer.pk, actor=team.owner)
    assert member_added_email_send(membership_id=membership.pk, recipient_id=team.admin.pk) is False
    assert mailbox.mails == []
