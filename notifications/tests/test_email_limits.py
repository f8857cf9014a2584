"""Limits on the email the product sends (issue 18), on a real worker and a real SMTP server:
the per-recipient hourly limit and its summary, verified addresses only, permanent SMTP
refusals, no SMTP conversation inside a transaction (the feed keeps flowing), and bulk mail
on a queue of its own."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from accounts.services import token_create
from chats.models import Membership
from chats.services import chat_create, chat_member_add, message_create
from notifications.digest.models import Digest
from notifications.digest.services import _send_tasks as digest_tasks_send
from notifications.digest.services import digest_settings_update
from notifications.models import MemberAddedSend, MemberAddedSummary, SentNotification
from notifications.services import pending_emails_resend, summaries_dispatch
from testing.background import Mail
from testing.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _to(mails: list[Mail], user, kind: str = "<member-added.") -> list[Mail]:
    return [m for m in mails if user.email in m.rcpt_tos and m.message_id.startswith(kind)]


def test_no_one_gets_more_than_the_hourly_limit_the_rest_in_one_later_summary(worker, broker, mailbox, team, make_user):
    limit = settings.NOTIFICATIONS_MEMBER_ADDED_PER_HOUR  # the worker's default too
    newcomers = [make_user(username=f"newcomer{n}") for n in range(limit + 4)]
    for newcomer in newcomers:
        chat_member_add(chat=team.chat, user=newcomer, added_by=team.owner)
    owed = limit + 5  # the team's own member, then the newcomers
    rows = SentNotification.objects.filter(recipient=team.admin)
    wait_until(
        lambda: rows.filter(sent_at__isnull=False).count() + rows.filter(summary__isnull=False).count() == owed,
        timeout=60,
        what="every email sent or summarised",
    )
    broker.wait_idle()
    assert len(_to(mailbox.mails, team.admin)) == limit
    summary = MemberAddedSummary.objects.get(recipient=team.admin)
    assert summary.notifications.count() == owed - limit and summary.sent_at is None
    assert summary.due_at > timezone.now() + timedelta(minutes=50)
    assert summaries_dispatch() == 0, "not before the recipient's hour has room"

    # An hour later: the sweep sends the summary, one email naming every folded addition.
    MemberAddedSend.objects.update(claimed_at=F("claimed_at") - timedelta(hours=1))
    MemberAddedSummary.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    assert pending_emails_resend(older_than=timedelta(minutes=5)) == 1
    mailbox.wait_for(lambda mails: _to(mails, team.admin, "<member-added-summary."))
    broker.wait_idle()
    [mail] = _to(mailbox.mails, team.admin, "<member-added-summary.")
    assert mail.subject == f"{owed - limit} members added to your chats"
    # The additions the worker reached past the limit (its tasks run concurrently, so not
    # necessarily the last ones): exactly those are named, each once.
    folded = rows.filter(summary__isnull=False).values_list("membership__user__username", flat=True)
    assert sorted(re.findall(r"added (\S+) to ", mail.body("plain"))) == sorted(folded)
    assert summaries_dispatch() == 0
    assert MemberAddedSummary.objects.get().sent_at is not None


def test_a_new_address_gets_only_the_verification_email_until_its_link_is_opened(
    worker, broker, mailbox, team, make_user, api_client, client
):
    response = api_client.post(
        "/api/auth/register/",
        {"username": "fresh", "email": "fresh@example.com", "password": "a-long-pass-word-42"},
        format="json",
    )
    assert response.status_code == 202, response.content  # the same answer whether or not it was made
    fresh = User.objects.get(username="fresh")
    assert fresh.email_verified_at is None
    mailbox.wait_for(lambda mails: [m for m in mails if m.rcpt_tos == [fresh.email]])
    [verification] = [m for m in mailbox.mails if m.rcpt_tos == [fresh.email]]
    assert verification.subject == "Confirm your email address"
    link = re.search(r"http\S+/verify-email/\S+/", verification.body("plain")).group(0)

    chat_member_add(chat=team.chat, user=fresh, role=Membership.Role.ADMIN, added_by=None)
    first = chat_member_add(chat=team.chat, user=make_user(), added_by=team.owner)
    mailbox.wait_for(lambda mails: _to(mails, team.admin))
    broker.wait_idle()
    assert [m.rcpt_tos for m in mailbox.mails if fresh.email in m.rcpt_tos] == [[fresh.email]], "only the link"
    assert not SentNotification.objects.filter(membership=first, recipient=fresh).exists()

    path = urlsplit(link).path
    assert client.get(path[:-4] + "xyz/").status_code == 400, "a tampered link does nothing"
    assert client.get(path).status_code == 200
    fresh.refresh_from_db()
    assert fresh.email_verified_at is not None
    second = chat_member_add(chat=team.chat, user=make_user(), added_by=team.owner)
    mailbox.wait_for(lambda mails: [m for m in _to(mails, fresh) if f".{second.pk}." in m.message_id])
    broker.wait_idle()


def test_a_permanent_refusal_is_marked_failed_not_retried(worker, broker, mailbox, team, make_user, client):
    mailbox.handler.refuse[team.admin.email] = "550 5.1.1 No such mailbox"
    membership = chat_member_add(chat=team.chat, user=make_user(), added_by=team.owner)
    row = SentNotification.objects.filter(membership=membership, recipient=team.admin)
    wait_until(lambda: row.filter(failed_at__isnull=False).exists(), timeout=30, what="the refusal recorded")
    broker.wait_idle()
    [failed] = row
    assert failed.sent_at is None and failed.attempts == 1 and "550" in failed.last_error
    assert pending_emails_resend(older_than=timedelta(0), exhausted_older_than=timedelta(0)) == 0

    root = User.objects.create_superuser("root", "root@example.com", "pass-word-42")
    client.force_login(root)
    page = client.get("/admin/notifications/sentnotification/", {"state": "failed"}).content.decode()
    assert f"member added #{membership.pk}" in page and "550" in page
    page = client.get("/admin/notifications/sentnotification/", {"state": "retrying"}).content.decode()
    assert f"member added #{membership.pk}" not in page


def test_a_slow_smtp_send_does_not_hold_back_the_feed(site, worker, broker, mailbox, team, make_user):
    """The SMTP server stalls in the middle of a send; meanwhile a message posted to the chat
    is in the feed at once. Before: the task held its row lock (a transaction id) while
    talking SMTP, and the feed reads only below the oldest running transaction."""
    broker.wait_idle()
    member = httpx.Client(base_url=site.url, headers={"Authorization": f"Token {token_create(user=team.member)}"})
    owner = httpx.Client(base_url=site.url, headers={"Authorization": f"Token {token_create(user=team.owner)}"})
    head = member.get("/api/updates/").json()["cursor"]
    mailbox.handler.stall[team.admin.email] = 30  # past the tests' soft limit (3 s): then retried
    membership = chat_member_add(chat=team.chat, user=make_user(), added_by=team.owner)
    mailbox.wait_stalled(team.admin.email)

    posted = owner.post(f"/api/chats/{team.chat.pk}/messages/", json={"text": "during the send"})
    assert posted.status_code == 201, posted.text
    page = member.get("/api/updates/", params={"after": head}).json()
    row = SentNotification.objects.get(membership=membership, recipient=team.admin)
    assert row.sent_at is None and row.attempts == 0, "still in the first, stalled send"
    assert posted.json()["id"] in [e["data"]["id"] for e in page["events"] if e["type"] == "message.created"]

    mailbox.wait_for(lambda mails: [m for m in _to(mails, team.admin) if f".{membership.pk}." in m.message_id])
    broker.wait_idle()
    assert SentNotification.objects.get(pk=row.pk).sent_at is not None


def test_a_digest_storm_does_not_delay_a_transactional_email(worker, bulk_worker, broker, mailbox, team, make_user):
    """Digests flood the bulk queue, each send held 1 s by the SMTP server; a member-added
    email sent after them arrives while most digests are still waiting."""
    people = [make_user() for _ in range(24)]
    chat = chat_create(created_by=team.owner, title="Big", member_ids=[p.pk for p in people])
    message_create(chat_id=chat.pk, author=team.owner, text="news for everyone")
    now = timezone.now()
    for person in people:
        digest_settings_update(user=person, enabled=True)
        mailbox.handler.stall[person.email] = 1
    digests = Digest.objects.bulk_create([Digest(user=p, opened_at=now, due_at=now) for p in people])
    broker.wait_idle()
    digest_tasks_send([d.pk for d in digests])
    mailbox.wait_stalled(people[0].email) if people[0].email in mailbox.handler.stall else None
    wait_until(lambda: mailbox.handler.stalled, timeout=30, what="the first digest send")

    membership = chat_member_add(chat=team.chat, user=make_user(), added_by=team.owner)
    mailbox.wait_for(lambda mails: [m for m in _to(mails, team.admin) if f".{membership.pk}." in m.message_id])
    digests_sent = len([m for m in mailbox.mails if m.message_id.startswith("<digest.")])
    bulk_waiting = broker.waiting(("bulk",))
    assert digests_sent < len(people) // 2 and bulk_waiting > 0, (digests_sent, bulk_waiting)

    broker.wait_idle(timeout=120)
    assert len([m for m in mailbox.mails if m.message_id.startswith("<digest.")]) == len(people)


def test_a_live_claim_is_left_alone_an_expired_one_taken_over_and_a_second_run_sends_nothing(mailbox, team, make_user):
    """Run in this process against the real SMTP server: the claim is what keeps two runs of
    one task (a redelivery racing a slow first run) from emailing twice."""
    import uuid

    from notifications.retry import ClaimBusy
    from notifications.services import member_added_email_send

    membership = Membership.objects.create(chat=team.chat, user=make_user(), role=Membership.Role.MEMBER)
    row = SentNotification.objects.create(membership=membership, recipient=team.admin, added_by=team.owner)
    SentNotification.objects.filter(pk=row.pk).update(claimed_at=timezone.now(), claim_token=uuid.uuid4())
    with pytest.raises(ClaimBusy):
        member_added_email_send(membership_id=membership.pk, recipient_id=team.admin.pk)

    def about(mails: list[Mail]) -> list[Mail]:  # a session worker may send the team's own emails
        return [m for m in mails if m.message_id.startswith(f"<member-added.{membership.pk}.")]

    assert about(mailbox.mails) == []

    stale = timezone.now() - timedelta(seconds=settings.NOTIFICATIONS_CLAIM_SECONDS + 1)  # its worker died
    SentNotification.objects.filter(pk=row.pk).update(claimed_at=stale)
    assert member_added_email_send(membership_id=membership.pk, recipient_id=team.admin.pk) is True
    assert member_added_email_send(membership_id=membership.pk, recipient_id=team.admin.pk) is False
    assert [m.rcpt_tos for m in about(mailbox.wait_for(about))] == [[team.admin.email]]
    assert SentNotification.objects.get(pk=row.pk).sent_at is not None


def test_a_digest_refused_for_good_is_closed_as_failed(mailbox, team, client):
    from notifications.digest.services import digest_send

    digest_settings_update(user=team.member, enabled=True)
    message_create(chat_id=team.chat.pk, author=team.owner, text="news")
    now = timezone.now()
    digest = Digest.objects.create(user=team.member, opened_at=now, due_at=now)
    mailbox.handler.refuse[team.member.email] = "554 5.7.1 Rejected"
    assert digest_send(digest_id=digest.pk) == "failed"
    assert digest_send(digest_id=digest.pk) == "failed", "never tried again"
    digest.refresh_from_db()
    assert digest.attempts == 1 and "554" in digest.last_error and digest.closed_at is not None
    assert not [m for m in mailbox.mails if m.message_id.startswith("<digest.")]

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pass-word-42"))
    page = client.get("/admin/notifications/digest/", {"state": "failed"}).content.decode()
    assert f"digest #{digest.pk} " in page or str(digest.pk) in page
    assert "554" in page
