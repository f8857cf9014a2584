"""The member-added email end to end: API or service → commit → Celery task on a real worker →
real SMTP server. Also the failures: SMTP down, a slow server past the soft limit, a worker
killed in the middle of a send."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from chats.models import Membership
from chats.services import chat_member_add
from notifications.models import SentNotification
from notifications.services import member_added_message_id, pending_emails_resend
from testing.background import Mail
from testing.processes import wait_until

Role = Membership.Role
pytestmark = pytest.mark.django_db(transaction=True)


def _about(mails: list[Mail], membership: Membership) -> list[Mail]:
    prefix = f"<member-added.{membership.pk}."
    return [mail for mail in mails if mail.message_id.startswith(prefix)]


def _recipients(mails: list[Mail]) -> list[str]:
    return sorted(address for mail in mails for address in mail.rcpt_tos)


def _membership(chat, user) -> Membership:
    return Membership.objects.get(chat=chat, user=user)


def test_member_added_through_the_api_emails_the_other_admins(worker, broker, mailbox, team, make_user, client_for):
    second_admin = make_user()
    chat_member_add(chat=team.chat, user=second_admin, role=Role.ADMIN, added_by=team.owner)
    newcomer = make_user(username="newcomer")

    response = client_for(team.admin).post(
        f"/api/chats/{team.chat.pk}/members/", {"user_id": newcomer.pk}, format="json"
    )
    assert response.status_code == 201, response.content
    membership = _membership(team.chat, newcomer)
    mailbox.wait_for(lambda mails: len(_about(mails, membership)) >= 2)
    broker.wait_idle()

    mails = _about(mailbox.mails, membership)
    assert _recipients(mails) == sorted([team.owner.email, second_admin.email])  # not the adder, not the newcomer
    for mail in mails:
        [recipient_id] = [u.pk for u in (team.owner, second_admin) if u.email == mail.rcpt_tos[0]]
        assert mail.message_id == member_added_message_id(membership_id=membership.pk, recipient_id=recipient_id)
        assert mail.subject == f'{team.admin.username} added newcomer to "Team"'
        assert str(mail.message["To"]) == mail.rcpt_tos[0]
        for body in (mail.body("plain"), mail.body("html")):
            assert "newcomer" in body
            assert '"Team"' in body or "<strong>Team</strong>" in body
            assert team.admin.username in body
    assert not SentNotification.objects.filter(membership=membership, sent_at__isnull=True).exists()


def test_owner_adding_a_member_emails_the_other_admins_only(worker, broker, mailbox, team, make_user, client_for):
    newcomer = make_user()
    response = client_for(team.owner).post(
        f"/api/chats/{team.chat.pk}/members/", {"user_id": newcomer.pk, "role": "admin"}, format="json"
    )
    assert response.status_code == 201, response.content
    membership = _membership(team.chat, newcomer)
    mailbox.wait_for(lambda mails: len(_about(mails, membership)) >= 1)
    broker.wait_idle()
    assert _recipients(_about(mailbox.mails, membership)) == [team.admin.email]


def test_member_added_by_the_system_path_emails_every_admin(worker, broker, mailbox, team, make_user):
    newcomer = make_user()
    membership = chat_member_add(chat=team.chat, user=newcomer, added_by=None)  # Django admin, shell
    mailbox.wait_for(lambda mails: len(_about(mails, membership)) >= 2)
    broker.wait_idle()
    mails = _about(mailbox.mails, membership)
    assert _recipients(mails) == sorted([team.owner.email, team.admin.email])
    assert all(mail.subject.startswith("A site administrator added") for mail in mails)


def test_the_task_is_sent_after_commit_and_never_for_a_rollback(worker, broker, mailbox, team, make_user):
    broker.wait_idle()
    mailbox.reset()  # the team's own emails
    with pytest.raises(RuntimeError), transaction.atomic():
        chat_member_add(chat=team.chat, user=make_user(), added_by=team.owner)
        assert broker.busy() == 0  # not before the commit
        raise RuntimeError("the caller's transaction fails")
    assert broker.busy() == 0

    membership = chat_member_add(chat=team.chat, user=make_user(), added_by=team.owner)
    mailbox.wait_for(lambda mails: len(_about(mails, membership)) >= 1)
    broker.wait_idle()
    assert [mail.message_id for mail in mailbox.mails] == [
        member_added_message_id(membership_id=membership.pk, recipient_id=team.admin.pk)
    ]


def test_smtp_down_for_a_while_then_the_email_arrives_once(worker, broker, mailbox, team, make_user):
    mailbox.stop()
    membership = chat_member_add(chat=team.chat, user=make_user(), added_by=team.owner)
    row = SentNotification.objects.get(membership=membership, recipient=team.admin)
    wait_until(lambda: SentNotification.objects.get(pk=row.pk).attempts >= 2, timeout=30, what="two failed tries")
    mailbox.start()

    mailbox.wait_for(lambda mails: len(_about(mails, membership)) >= 1)
    broker.wait_idle()
    assert _recipients(_about(mailbox.mails, membership)) == [team.admin.email]
    row.refresh_from_db()
    assert row.sent_at is not None and "Connection" in row.last_error


def test_slow_smtp_past_the_soft_limit_cleans_up_and_retries(worker, broker, mailbox, team, make_user):
    """The worker's email soft limit is 3 s in the tests: the stalled send is abandoned, the
    failure recorded, and the retry (fast this time) delivers once."""
    broker.wait_idle()  # the team's own emails are out of the way
    mailbox.handler.stall[team.admin.email] = 6
    membership = chat_member_add(chat=team.chat, user=make_user(), added_by=team.owner)
    mailbox.wait_for(lambda mails: len(_about(mails, membership)) >= 1)
    broker.wait_idle()
    assert _recipients(_about(mailbox.mails, membership)) == [team.admin.email]
    row = SentNotification.objects.get(membership=membership, recipient=team.admin)
    assert row.attempts == 1 and "SoftTimeLimitExceeded" in row.last_error
    assert row.sent_at is not None


@pytest.mark.slow
def test_worker_killed_in_the_middle_of_a_send_then_each_admin_has_one_email(worker, broker, mailbox, team, make_user):
    second_admin = make_user()
    chat_member_add(chat=team.chat, user=second_admin, role=Role.ADMIN, added_by=team.owner)
    broker.wait_idle()
    mailbox.handler.stall[second_admin.email] = 60  # the server hangs in the middle of this send

    membership = chat_member_add(chat=team.chat, user=make_user(), added_by=team.owner)
    mailbox.wait_stalled(second_admin.email)
    wait_until(
        lambda: SentNotification.objects.filter(membership=membership, recipient=team.admin, sent_at__isnull=False),
        timeout=30,
        what="the first admin's email",
    )
    worker.kill()
    assert SentNotification.objects.get(membership=membership, recipient=second_admin).sent_at is None
    # The worker gives messages back every second: it may have died holding the lock for that.
    broker.restore_lock_taken(worker)

    worker.start()  # the killed task's message comes back after the visibility timeout
    mailbox.wait_for(lambda mails: len(_about(mails, membership)) >= 2, timeout=90)
    broker.wait_idle()
    assert _recipients(_about(mailbox.mails, membership)) == sorted([team.admin.email, second_admin.email])
    assert not SentNotification.objects.filter(membership=membership, sent_at__isnull=True).exists()


def test_an_email_whose_task_was_never_sent_goes_out_on_the_next_sweep(worker, broker, mailbox, team, make_user):
    """As if the broker had been down when the addition committed: the pending row exists, no
    task does. The periodic sweep gives it one, and the admin gets the email once."""
    newcomer = make_user()
    membership = Membership.objects.create(chat=team.chat, user=newcomer, role=Role.MEMBER)
    SentNotification.objects.create(membership=membership, recipient=team.owner, added_by=None)
    # A row whose task already ran and failed belongs to that task's retries: not sent again.
    SentNotification.objects.create(membership=membership, recipient=team.admin, added_by=None, attempts=3)
    SentNotification.objects.filter(membership=membership).update(created_at=timezone.now() - timedelta(minutes=10))

    assert pending_emails_resend(older_than=timedelta(minutes=5)) == 1
    mailbox.wait_for(lambda mails: len(_about(mails, membership)) >= 1)
    broker.wait_idle()
    assert _recipients(_about(mailbox.mails, membership)) == [team.owner.email]
    assert pending_emails_resend(older_than=timedelta(minutes=5)) == 0


def test_an_email_whose_retries_ran_out_goes_out_on_a_later_sweep(worker, broker, mailbox, team, make_user, client):
    """The last try fails (SMTP down): the row says its retries ran out and the admin lists
    it; a sweep after NOTIFICATIONS_RESEND_EXHAUSTED_AFTER_SECONDS gives it a new task."""
    from accounts.models import User
    from notifications.tasks import member_added_email_send

    broker.wait_idle()
    newcomer = make_user()
    membership = Membership.objects.create(chat=team.chat, user=newcomer, role=Role.MEMBER)
    SentNotification.objects.create(membership=membership, recipient=team.owner, added_by=None, attempts=12)
    mailbox.stop()
    # The task's last retry, run here against the SMTP server that is down.
    result = member_added_email_send.apply(
        kwargs={"membership_id": membership.pk, "recipient_id": team.owner.pk},
        retries=member_added_email_send.max_retries,
    )
    assert result.failed()
    row = SentNotification.objects.get(membership=membership, recipient=team.owner)
    assert row.sent_at is None and row.retries_exhausted_at is not None and row.attempts == 13

    root = User.objects.create_superuser("root", "root@example.com", "pass-word-42")
    client.force_login(root)
    page = client.get("/admin/notifications/sentnotification/", {"state": "exhausted"}).content.decode()
    assert f"member added #{membership.pk}" in page and "Connection" in page

    mailbox.start()
    # Not yet: the given-up row waits its delay; a row in its retries is never swept.
    assert pending_emails_resend(older_than=timedelta(minutes=5), exhausted_older_than=timedelta(hours=1)) == 0
    SentNotification.objects.filter(pk=row.pk).update(retries_exhausted_at=timezone.now() - timedelta(hours=2))
    assert pending_emails_resend(older_than=timedelta(minutes=5), exhausted_older_than=timedelta(hours=1)) == 1
    assert pending_emails_resend(older_than=timedelta(minutes=5), exhausted_older_than=timedelta(hours=1)) == 0
    mailbox.wait_for(lambda mails: len(_about(mails, membership)) >= 1)
    broker.wait_idle()
    assert _recipients(_about(mailbox.mails, membership)) == [team.owner.email]
    row.refresh_from_db()
    assert row.sent_at is not None and row.retries_exhausted_at is None
