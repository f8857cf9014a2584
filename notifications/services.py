"""Emails to chat admins. `member_added_notify_later` is called where a membership is created
(chats.services._membership_add); the email task calls `member_added_email_send`."""

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import User
from chats.models import Membership

from .models import SentNotification
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
        SentNotification.objects.filter(sent_at__isnull=True, attempts=0, created_at__lt=now - older_than)
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
    return len(never_ran) + len(gave_up)


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


def member_added_email_send(*, membership_id: int, recipient_id: int) -> bool:
    """Emails one admin about one new member unless that email was sent already; returns whether
    this call sent it.

    The notification row stays locked while the SMTP server is talked to: a second run of the
    same task (a redelivery racing a slow first run) waits, then finds it sent. Any error rolls
    back, leaving the row unsent for the retry.
    """
    with transaction.atomic():
        notification = (
            SentNotification.objects.select_for_update(of=("self",))
            .select_related("membership__chat", "membership__user", "recipient", "added_by")
            .filter(membership_id=membership_id, recipient_id=recipient_id)
            .first()
        )
        if notification is None:  # the member was removed (and the row with them) meanwhile
            return False
        if notification.sent_at is not None:
            logger.info("member-added email %s already sent", notification)
            return False
        if not notification.recipient.is_active or not notification.recipient.email:
            # Deactivated since: no email is owed, and no row is left pending for the sweep.
            notification.delete()
            return False
        _member_added_email(notification).send()
        notification.sent_at = timezone.now()
        notification.save(update_fields=["sent_at"])
    return True


def member_added_email_failed(*, membership_id: int, recipient_id: int, error: str, last_try: bool = False) -> None:
    """Counts a failed try (its own statement: the sending transaction was rolled back); on
    the task's last try, records that its retries ran out, for the sweep and the admin."""
    SentNotification.objects.filter(membership_id=membership_id, recipient_id=recipient_id).update(
        attempts=F("attempts") + 1, last_error=error[:1000], retries_exhausted_at=timezone.now() if last_try else None
    )
