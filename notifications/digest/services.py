"""The missed-message digest: one email per member per window, listing what they have not
read, grouped by chat, mentions first.

How it runs (every part idempotent, so crashes and repeats change nothing):

1. **Sweep** (`digest_sweep`, celery beat every few seconds): reads the messages that are new
   since the last sweep and, in one statement, opens a window for every member of their
   chats who has something unread there, has the digest on and has no open window. A window
   is due `window_minutes` after the first message that opened it. A message that arrives
   while the member's window is open schedules nothing: a 10,000-member chat costs one
   set-based insert per sweep, not a task per member per message. The same sweep gives a
   task to every due window (and again to one whose task went missing).
2. **Send** (`digest_send`, on the bulk queue): claims the window's row in a short
   transaction, reads the member's read markers *now*, commits, and sends one email with
   every message still unread (newer than the previous digest) with no transaction open,
   then closes the window if its claim still holds (or closes it with nothing to send). A
   second run finds it closed or claimed; a claim older than NOTIFICATIONS_CLAIM_SECONDS
   (a dead worker) is taken over. A 5xx answer closes it as failed, never retried.

The digest is off until the user turns it on, and goes only to a verified address.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import F, Max
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from reads.mentions import mention_sql_pattern

from ..retry import ClaimBusy, smtp_permanent
from .models import Digest, DigestScan, DigestSettings

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "notifications.digest.unsubscribe"

# Opens windows for the members of the chats with messages in (lo, hi]. A member qualifies
# when a message in that range, by someone else, is above both their read marker and the
# newest message of their last sent digest.
_OPEN_SQL = """
with new as (
    select chat_id, min(created_at) as first_at
    from chats_message
    where id > %(lo)s and id <= %(hi)s and deleted_at is null
    group by chat_id
),
candidates as (
    select distinct on (mb.user_id) mb.user_id, new.first_at,
           coalesce(ds.window_minutes, %(default_window)s) as window_minutes
    from new
    join chats_membership mb on mb.chat_id = new.chat_id
    join accounts_user u on u.id = mb.user_id and u.is_active and u.email <> ''
        and u.email_verified_at is not null
    left join notifications_digestsettings ds on ds.user_id = mb.user_id
    left join reads_readmarker r on r.membership_id = mb.id
    where coalesce(ds.enabled, false)
      -- A member with an open window: the message joins it (an index probe, no insert).
      and not exists (select 1 from notifications_digest o where o.user_id = mb.user_id and o.state = 'open')
      and exists (
          select 1 from chats_message m
          where m.chat_id = new.chat_id
            and m.id > greatest(%(lo)s, coalesce(r.last_read_id, 0), coalesce((
                select max(d.through_message_id) from notifications_digest d
                where d.user_id = mb.user_id and d.state = 'sent'), 0))
            and m.id <= %(hi)s and m.deleted_at is null and m.author_id is distinct from mb.user_id
      )
    order by mb.user_id, new.first_at
)
insert into notifications_digest
    (user_id, opened_at, due_at, state, message_count, mention_count, attempts, last_error)
select user_id, now(), first_at + window_minutes * %(minute)s * interval '1 second', 'open', 0, 0, 0, ''
from candidates
on conflict do nothing
"""

_DUE_SQL = """
update notifications_digest set dispatched_at = now()
where id in (
    select id from notifications_digest
    where state = 'open' and due_at <= now()
      and (dispatched_at is null or dispatched_at < now() - %(redispatch)s * interval '1 second')
    order by due_at
    limit %(limit)s
    for update skip locked
)
returning id
"""

# The member's unread messages, per chat: mentions of them first, then the newest, at most
# `per_chat` shown out of the newest 500 unread (and how many there are, up to 1000).
_UNREAD_SQL = """
select mb.chat_id, c.title, c.kind, x.id, x.text, u.username, x.created_at, x.mention, cnt.n
from chats_membership mb
join chats_chat c on c.id = mb.chat_id
left join reads_readmarker r on r.membership_id = mb.id
cross join lateral (
    select m.id, m.text, m.author_id, m.created_at, m.text ~* %(pattern)s as mention
    from (
        select * from chats_message m
        where m.chat_id = mb.chat_id and m.id > greatest(coalesce(r.last_read_id, 0), %(through)s)
          and m.deleted_at is null and m.author_id is distinct from mb.user_id
        order by m.id desc limit 500
    ) m
    order by mention desc, m.id desc
    limit %(per_chat)s
) x
cross join lateral (
    select count(*) as n from (
        select 1 from chats_message m
        where m.chat_id = mb.chat_id and m.id > greatest(coalesce(r.last_read_id, 0), %(through)s)
          and m.deleted_at is null and m.author_id is distinct from mb.user_id
        limit 1000
    ) q
) cnt
left join accounts_user u on u.id = x.author_id
where mb.user_id = %(user_id)s
"""


@dataclass
class DigestMessage:
    id: int
    author: str
    text: str
    created_at: object
    mention: bool


@dataclass
class DigestChat:
    chat_id: int
    name: str
    url: str
    unread: int
    messages: list[DigestMessage] = field(default_factory=list)

    @property
    def mentions(self) -> int:
        return sum(message.mention for message in self.messages)

    @property
    def more(self) -> int:
        return max(0, self.unread - len(self.messages))


def digest_settings_get(*, user: User) -> DigestSettings:
    """The user's preference (defaults when they never chose)."""
    found = DigestSettings.objects.filter(user=user).first()
    return found or DigestSettings(user=user, window_minutes=settings.NOTIFICATIONS_DIGEST_WINDOW_MINUTES)


def digest_settings_update(
    *, user: User, enabled: bool | None = None, window_minutes: int | None = None
) -> DigestSettings:
    """Changes the preference; a new window follows it (an open one keeps its due time, and
    is closed unsent if the digest is off by then)."""
    current = digest_settings_get(user=user)
    values = {
        "enabled": current.enabled if enabled is None else enabled,
        "window_minutes": current.window_minutes if window_minutes is None else window_minutes,
    }
    preference, _ = DigestSettings.objects.update_or_create(user=user, defaults=values)
    return preference


def unsubscribe_token(*, user: User) -> str:
    """Signed with SECRET_KEY (salted), no expiry: a digest's link works as long as the key."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object({"u": user.pk})


def unsubscribe_url(*, user: User) -> str:
    return settings.SITE_URL + reverse("notifications:digest-unsubscribe", args=[unsubscribe_token(user=user)])


def digest_unsubscribe(*, token: str) -> User | None:
    """Turns the digest off for the user the signed token names; None for a bad token. No
    sign-in needed: the signature is the proof (SECRET_KEY, a salt of its own)."""
    try:
        user_id = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)["u"]
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    user = User.objects.filter(pk=user_id).first()
    if user is not None:
        digest_settings_update(user=user, enabled=False)
    return user


def digest_sweep(*, now=None) -> dict[str, int]:
    """Opens windows for new messages and gives every due window a task; returns counts."""
    minute = settings.NOTIFICATIONS_DIGEST_MINUTE_SECONDS
    with transaction.atomic():
        scan, _ = DigestScan.objects.select_for_update().get_or_create(pk=1)
        newest = _newest_message_id()
        hi = min(newest, scan.through_message_id + settings.NOTIFICATIONS_DIGEST_SCAN_BATCH)
        lo = scan.previous_through_message_id if hi == newest else scan.through_message_id
        opened = 0
        if hi > lo:
            with connection.cursor() as cursor:
                # JIT compiling this set-based statement costs more than running it.
                cursor.execute("set local jit = off")
                cursor.execute(
                    _OPEN_SQL,
                    {
                        "lo": lo,
                        "hi": hi,
                        "default_window": settings.NOTIFICATIONS_DIGEST_WINDOW_MINUTES,
                        "minute": minute,
                    },
                )
                opened = cursor.rowcount
        if hi != scan.through_message_id:
            scan.previous_through_message_id = scan.through_message_id
            scan.through_message_id = hi
        scan.scanned_at = timezone.now()
        scan.save()
        with connection.cursor() as cursor:
            cursor.execute(_DUE_SQL, {"redispatch": settings.NOTIFICATIONS_DIGEST_REDISPATCH_SECONDS, "limit": 1000})
            due = [row[0] for row in cursor.fetchall()]
        if due:
            transaction.on_commit(partial(_send_tasks, due), robust=True)
    return {"scanned_from": lo, "scanned_through": hi, "opened": opened, "dispatched": len(due)}


def _newest_message_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("select coalesce(max(id), 0) from chats_message")
        return cursor.fetchone()[0]


def _send_tasks(digest_ids: list[int]) -> None:
    from .tasks import digest_send  # the tasks module imports this one

    for digest_id in digest_ids:
        digest_send.delay(digest_id=digest_id)


def _unread_for(*, user: User, through: int) -> list[DigestChat]:
    with connection.cursor() as cursor:
        cursor.execute(
            _UNREAD_SQL,
            {
                "pattern": mention_sql_pattern(user.get_username()),
                "through": through,
                "per_chat": settings.NOTIFICATIONS_DIGEST_MESSAGES_PER_CHAT,
                "user_id": user.pk,
            },
        )
        rows = cursor.fetchall()
    chats: dict[int, DigestChat] = {}
    for chat_id, title, kind, message_id, text, author, created_at, mention, unread in rows:
        chat = chats.get(chat_id)
        if chat is None:
            name = title or f"{'Direct' if kind == 'direct' else 'Group'} chat #{chat_id}"
            chat = chats[chat_id] = DigestChat(
                chat_id=chat_id, name=name, url=f"{settings.SITE_URL}/chats/{chat_id}/", unread=unread
            )
        chat.messages.append(
            DigestMessage(
                id=message_id, author=author or "(deleted user)", text=text, created_at=created_at, mention=mention
            )
        )
    for chat in chats.values():
        # Mentions first, then in the order they were written.
        chat.messages.sort(key=lambda m: (not m.mention, m.id))
    return sorted(chats.values(), key=lambda c: (-c.mentions, -max(m.id for m in c.messages)))


def digest_message_id(*, digest_id: int) -> str:
    """One Message-ID for every attempt at one digest: a mail client shows a duplicate (a
    worker killed after the SMTP server took the mail, before the row was marked) as one."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
    return f"<digest.{digest_id}@{domain}>"


def _digest_email(*, digest: Digest, user: User, chats: list[DigestChat]) -> EmailMultiAlternatives:
    unsubscribe = unsubscribe_url(user=user)
    total = sum(chat.unread for chat in chats)
    mentions = sum(chat.mentions for chat in chats)
    context = {
        "user": user,
        "chats": chats,
        "total": total,
        "mentions": mentions,
        "unsubscribe_url": unsubscribe,
        "settings_url": f"{settings.SITE_URL}/",
    }
    subject = " ".join(render_to_string("notifications/digest_subject.txt", context).split())
    email = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("notifications/digest.txt", context),
        to=[user.email],
        headers={
            "Message-ID": digest_message_id(digest_id=digest.pk),
            # RFC 8058 one-click unsubscribe: mail clients POST to the link.
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    email.attach_alternative(render_to_string("notifications/digest.html", context), "text/html")
    return email


def digest_send(*, digest_id: int) -> str:
    """Sends the window's digest unless it was sent or closed; returns the window's state."""
    token, now = uuid.uuid4(), timezone.now()
    with transaction.atomic():
        digest = Digest.objects.select_for_update(of=("self",)).select_related("user").filter(pk=digest_id).first()
        if digest is None or digest.state != Digest.State.OPEN:
            return digest.state if digest else "gone"
        if digest.claimed_at is not None:
            left = (digest.claimed_at + timedelta(seconds=settings.NOTIFICATIONS_CLAIM_SECONDS) - now).total_seconds()
            if left > 0:
                raise ClaimBusy(left)
        user = digest.user
        if (
            not digest_settings_get(user=user).enabled
            or not user.is_active
            or not user.email
            or user.email_verified_at is None
        ):
            _close(digest, Digest.State.OFF, now)
            return digest.state
        through = (
            Digest.objects.filter(user=user, state=Digest.State.SENT).aggregate(t=Max("through_message_id"))["t"] or 0
        )
        chats = _unread_for(user=user, through=through)
        if not chats:  # everything was read meanwhile
            _close(digest, Digest.State.EMPTY, now)
            return digest.state
        digest.claimed_at, digest.claim_token = now, token
        digest.save(update_fields=["claimed_at", "claim_token"])
    claimed = Digest.objects.filter(pk=digest.pk, claim_token=token, state=Digest.State.OPEN)
    try:
        _digest_email(digest=digest, user=user, chats=chats).send()
    except BaseException as exc:
        if smtp_permanent(exc):
            claimed.update(
                state=Digest.State.FAILED,
                closed_at=timezone.now(),
                attempts=F("attempts") + 1,
                last_error=repr(exc)[:1000],
            )
            logger.error("digest %s refused for good: %r", digest_id, exc)
            return Digest.State.FAILED
        claimed.update(claimed_at=None, claim_token=None)  # the retry may claim it at once
        raise
    claimed.update(
        state=Digest.State.SENT,
        closed_at=timezone.now(),
        through_message_id=max(m.id for chat in chats for m in chat.messages),
        message_count=sum(chat.unread for chat in chats),
        mention_count=sum(chat.mentions for chat in chats),
    )
    return Digest.State.SENT


def _close(digest: Digest, state: str, now) -> None:
    digest.state, digest.closed_at = state, now
    digest.save(update_fields=["state", "closed_at", "through_message_id", "message_count", "mention_count"])


def digest_failed(*, digest_id: int, error: str) -> None:
    """Counts a failed try (its own statement: the sending transaction was rolled back)."""
    Digest.objects.filter(pk=digest_id).update(attempts=F("attempts") + 1, last_error=error[:1000])
