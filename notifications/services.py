"""Emails to chat admins. `member_added_notify_later` runs where a membership is created
(chats.services._membership_add sends the `member_added` signal, notifications.receivers);
the email task calls `member_added_email_send`."""

import logging
import uuid
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Count, F, Min, Q
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import User
from chats.models import Membership

from .models import MemberAddedSend, MemberAddedSummary, SentNotification
from .retry import ClaimBusy, smtp_permanent
from .selectors import member_added_recipient_ids

logger = logging.getLogger(__name__)


def member_added_notify_later(*, membership: Membership, added_by: User | None) -> None:
    """Records one pending email per admin to tell, in the caller's transaction, and sends one
    task per email only once that transaction commits: a rolled-back addition emails no one,
    and a worker never looks for a membership that is not committed yet.

    The caller holds the chat's row lock, so the admins are those of the moment of the addition.
    """
    recipient_ids = member_added_recipient_ids(membership=membership, added_by=added_by)
    if not recipient_ids:
        return
    SentNotification.objects.bulk_create(
        [SentNotification(membership=membership, recipient_id=uid, added_by=added_by) for uid in recipient_ids],
        ignore_conflicts=True,
    )
    # robust: a broker that stays down past the publish retries must not fail the request whose
    # data is already committed; the pending rows say which emails were not sent.
    transaction.on_commit(partial(_member_added_tasks_send, membership.pk, recipient_ids), robust=True)


def _member_added_tasks_send(membership_id: int, recipient_ids: list[int]) -> None:
    from .tasks import member_added_email_send  # the tasks module imports this one

    for recipient_id in recipient_ids:
        member_added_email_send.delay(membership_id=membership_id, recipient_id=recipient_id)


def pending_emails_resend(
    *, older_than: timedelta, exhausted_older_than: timedelta | None = None, limit: int = 500
) -> int:
    """Sends a task for every email that has none, returns how many: those whose task never
    ran, `older_than` after they were asked for, and those whose retries ran out
    `exhausted_older_than` ago (None: not those).

    This is what makes a pending row a promise: the on-commit send is lost when the broker is
    down at that moment, and an SMTP outage can outlast every retry. A row whose retries are
    still going belongs to its task and is left alone, so an outage never piles up parallel
    retry chains. A task sent twice is harmless (`member_added_email_send` checks the row
    under a lock).
    """
    now = timezone.now()
    never_ran = list(
        SentNotification.objects.filter(
            sent_at__isnull=True,
            failed_at__isnull=True,
            summary__isnull=True,
            attempts=0,
            created_at__lt=now - older_than,
        )
        .order_by("id")
        .values_list("membership_id", "recipient_id")[:limit]
    )
    gave_up: list[tuple[int, int]] = []
    if exhausted_older_than is not None:
        with transaction.atomic():
            rows = (
                SentNotification.objects.select_for_update(skip_locked=True)
                .filter(sent_at__isnull=True, retries_exhausted_at__lt=now - exhausted_older_than)
                .order_by("id")[:limit]
            )
            picked = list(rows)
            gave_up = [(row.membership_id, row.recipient_id) for row in picked]
            # Back in a task's hands: the next sweep leaves it to that task's retries.
            SentNotification.objects.filter(pk__in=[row.pk for row in picked]).update(retries_exhausted_at=None)
    for membership_id, recipient_id in never_ran + gave_up:
        _member_added_tasks_send(membership_id, [recipient_id])
    # The hourly limit looks back one hour: older claims only take room.
    MemberAddedSend.objects.filter(claimed_at__lt=now - timedelta(hours=2)).delete()
    return len(never_ran) + len(gave_up) + summaries_dispatch(limit=limit)


def summaries_dispatch(*, limit: int = 500) -> int:
    """Gives a task to every summary that is due (its recipient's hour has room) and has
    none, or whose claim expired (its worker died); returns how many."""
    now = timezone.now()
    claim = timedelta(seconds=settings.NOTIFICATIONS_CLAIM_SECONDS)
    with transaction.atomic():
        due = list(
            MemberAddedSummary.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True, failed_at__isnull=True, due_at__lte=now)
            .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - claim))
            .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now - claim))
            .order_by("due_at")
            .values_list("pk", flat=True)[:limit]
        )
        MemberAddedSummary.objects.filter(pk__in=due).update(dispatched_at=now)
        transaction.on_commit(partial(_summary_tasks_send, due), robust=True)
    return len(due)


def _summary_tasks_send(summary_ids: list[int]) -> None:
    from .tasks import member_added_summary_send  # the tasks module imports this one

    for summary_id in summary_ids:
        member_added_summary_send.delay(summary_id=summary_id)


def member_added_message_id(*, membership_id: int, recipient_id: int) -> str:
    """The same Message-ID for every attempt at one email, so a mail client shows a duplicate
    (the one window no record can close: a worker killed after the SMTP server took the mail and
    before the row was marked) as one message."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
    return f"<member-added.{membership_id}.{recipient_id}@{domain}>"


def _member_added_email(notification: SentNotification) -> EmailMultiAlternatives:
    membership = notification.membership
    context = {
        "chat": membership.chat,
        "member": membership.user,
        "added_by": notification.added_by,
        "recipient": notification.recipient,
        "chat_url": f"{settings.SITE_URL}/chats/{membership.chat_id}/",
    }
    subject = " ".join(render_to_string("notifications/member_added_subject.txt", context).split())
    email = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("notifications/member_added.txt", context),
        to=[notification.recipient.email],
        headers={
            "Message-ID": member_added_message_id(membership_id=membership.pk, recipient_id=notification.recipient_id)
        },
    )
    email.attach_alternative(render_to_string("notifications/member_added.html", context), "text/html")
    return email


def _recipient_lock(recipient_id: int) -> None:
    """Serialises the claims of one recipient's member-added emails (this transaction only):
    the count against the hourly limit and the claim that follows it are one step."""
    with connection.cursor() as cursor:
        cursor.execute("select pg_advisory_xact_lock(%s, %s)", [_RECIPIENT_LOCK_SPACE, recipient_id])


# The first key of the two-key advisory lock: this lock's own space ("mail").
_RECIPIENT_LOCK_SPACE = 0x6D61696C


def _hour_claims(recipient_id: int, now: datetime) -> tuple[int, datetime | None]:
    """Member-added emails (single or summary) claimed for the recipient in the last hour,
    and the oldest of those claims (when the first slot frees)."""
    found = MemberAddedSend.objects.filter(
        recipient_id=recipient_id, claimed_at__gte=now - timedelta(hours=1)
    ).aggregate(n=Count("pk"), first=Min("claimed_at"))
    return found["n"], found["first"]


def _hour_claim(recipient_id: int, now: datetime, token: uuid.UUID) -> None:
    MemberAddedSend.objects.create(recipient_id=recipient_id, claimed_at=now, claim_token=token)


def _claim_check(row, now: datetime) -> None:
    """Raises ClaimBusy while another run's claim on `row` is live."""
    if row.claimed_at is not None:
        left = (row.claimed_at + timedelta(seconds=settings.NOTIFICATIONS_CLAIM_SECONDS) - now).total_seconds()
        if left > 0:
            raise ClaimBusy(left)


def _may_receive(user: User) -> bool:
    """Nothing but the verification email goes to an address its owner has not confirmed."""
    return user.is_active and bool(user.email) and user.email_verified_at is not None


def _fold(notification: SentNotification, *, recipient_id: int, first_claim: datetime | None, now: datetime) -> None:
    """Past the hourly limit: the notification joins the recipient's open summary (one is
    opened, due when the oldest claim of the hour is an hour old)."""
    summary = MemberAddedSummary.objects.filter(
        recipient_id=recipient_id, claimed_at__isnull=True, sent_at__isnull=True, failed_at__isnull=True
    ).first()
    if summary is None:
        summary = MemberAddedSummary.objects.create(
            recipient_id=recipient_id, due_at=(first_claim or now) + timedelta(hours=1)
        )
    notification.summary = summary
    notification.save(update_fields=["summary"])


def member_added_email_send(*, membership_id: int, recipient_id: int) -> bool:
    """Emails one admin about one new member unless that email was sent, claimed by a live
    run, refused for good, or folded into a summary; returns whether this call sent it.

    Claim, commit, send, mark: no transaction is open while the SMTP server is talked to (an
    open one would hold back the feed, which reads below the oldest running transaction). A
    failure releases the claim for the retry; a 5xx marks the row failed, never retried.
    """
    token, now = uuid.uuid4(), timezone.now()
    with transaction.atomic():
        _recipient_lock(recipient_id)
        notification = (
            SentNotification.objects.select_for_update(of=("self",))
            .select_related("membership__chat", "membership__user", "recipient", "added_by")
            .filter(membership_id=membership_id, recipient_id=recipient_id)
            .first()
        )
        if notification is None:  # the member was removed (and the row with them) meanwhile
            return False
        if notification.sent_at is not None or notification.failed_at is not None or notification.summary_id:
            logger.info("member-added email %s already sent, failed or summarised", notification)
            return False
        _claim_check(notification, now)
        if not _may_receive(notification.recipient):
            # Deactivated or unverified: no email is owed, and no row is left pending for the sweep.
            notification.delete()
            return False
        sent, first_claim = _hour_claims(recipient_id, now)
        if sent >= settings.NOTIFICATIONS_MEMBER_ADDED_PER_HOUR:
            _fold(notification, recipient_id=recipient_id, first_claim=first_claim, now=now)
            return False
        notification.claimed_at, notification.claim_token = now, token
        notification.save(update_fields=["claimed_at", "claim_token"])
        _hour_claim(recipient_id, now, token)
    claimed = SentNotification.objects.filter(pk=notification.pk, claim_token=token)
    try:
        _member_added_email(notification).send()
    except BaseException as exc:
        if smtp_permanent(exc):
            claimed.update(failed_at=timezone.now(), attempts=F("attempts") + 1, last_error=repr(exc)[:1000])
            logger.error("member-added email %s refused for good: %r", notification, exc)
            return False
        claimed.update(claimed_at=None, claim_token=None)  # the retry may claim it at once
        MemberAddedSend.objects.filter(claim_token=token).delete()  # nothing was sent
        raise
    claimed.update(sent_at=timezone.now())
    return True


def member_added_email_failed(*, membership_id: int, recipient_id: int, error: str, last_try: bool = False) -> None:
    """Counts a failed try (its own statement: the send had released its claim); on
    the task's last try, records that its retries ran out, for the sweep and the admin."""
    SentNotification.objects.filter(membership_id=membership_id, recipient_id=recipient_id).update(
        attempts=F("attempts") + 1, last_error=error[:1000], retries_exhausted_at=timezone.now() if last_try else None
    )


def _summary_email(summary: MemberAddedSummary, notifications: list[SentNotification]) -> EmailMultiAlternatives:
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
    context = {
        "recipient": summary.recipient,
        "items": [
            {
                "chat": n.membership.chat,
                "member": n.membership.user,
                "added_by": n.added_by,
                "chat_url": f"{settings.SITE_URL}/chats/{n.membership.chat_id}/",
            }
            for n in notifications
        ],
        "count": len(notifications),
    }
    email = EmailMultiAlternatives(
        subject=" ".join(render_to_string("notifications/member_added_summary_subject.txt", context).split()),
        body=render_to_string("notifications/member_added_summary.txt", context),
        to=[summary.recipient.email],
        headers={"Message-ID": f"<member-added-summary.{summary.pk}@{domain}>"},
    )
    email.attach_alternative(render_to_string("notifications/member_added_summary.html", context), "text/html")
    return email


def member_added_summary_send(*, summary_id: int) -> bool:
    """Sends one summary when it is due and the recipient's hour has room (claim, commit,
    send, mark, as member_added_email_send); returns whether this call sent it."""
    token, now = uuid.uuid4(), timezone.now()
    with transaction.atomic():
        summary = MemberAddedSummary.objects.filter(pk=summary_id).values_list("recipient_id", flat=True).first()
        if summary is None:
            return False
        _recipient_lock(summary)
        summary = (
            MemberAddedSummary.objects.select_for_update(of=("self",)).select_related("recipient").get(pk=summary_id)
        )
        if summary.sent_at is not None or summary.failed_at is not None:
            return False
        _claim_check(summary, now)
        notifications = list(
            summary.notifications.select_related("membership__chat", "membership__user", "added_by").order_by("id")
        )
        if not notifications or not _may_receive(summary.recipient):
            summary.delete()  # every item went with its member or chat, or no email is owed
            return False
        sent, first_claim = _hour_claims(summary.recipient_id, now)
        if now < summary.due_at or sent >= settings.NOTIFICATIONS_MEMBER_ADDED_PER_HOUR:
            # Not yet: the sweep gives it a task again when it is due.
            if now >= summary.due_at:
                summary.due_at = (first_claim or now) + timedelta(hours=1)
            summary.dispatched_at = None
            summary.save(update_fields=["due_at", "dispatched_at"])
            return False
        summary.claimed_at, summary.claim_token = now, token
        summary.save(update_fields=["claimed_at", "claim_token"])
        _hour_claim(summary.recipient_id, now, token)
    claimed = MemberAddedSummary.objects.filter(pk=summary.pk, claim_token=token)
    try:
        _summary_email(summary, notifications).send()
    except BaseException as exc:
        if smtp_permanent(exc):
            claimed.update(failed_at=timezone.now(), attempts=F("attempts") + 1, last_error=repr(exc)[:1000])
            return False
        claimed.update(claimed_at=None, claim_token=None, attempts=F("attempts") + 1, last_error=repr(exc)[:1000])
        MemberAddedSend.objects.filter(claim_token=token).delete()  # nothing was sent
        raise
    claimed.update(sent_at=timezone.now())
    return True
