"""Every write to chats, members and messages. Each one checks access, changes the
database and emits its event in one transaction (see `realtime.services.event_emit`)."""

from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, When
from django.utils import timezone

from accounts.models import User
from core.exceptions import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError
from core.fields import MAX_ID
from core.postgresql import group_commit
from realtime.services import (
    chat_unsubscribe_later,
    event_emit,
    event_insert_sql,
    message_events_redact,
    wake_up,
)

from .consent import add_consent_require, role_consent_require
from .models import Chat, Membership, Message, MessageEdit
from .representations import chat_data, membership_data, message_data
from .selectors import member_get, member_ids
from .signals import member_added, message_created

Role = Membership.Role


def _lock_chat(chat: Chat) -> Chat:
    """Locks the chat row: changes to one chat's members and settings take turns (one owner,
    roles checked against the current state). Messages do not take it."""
    return Chat.objects.select_for_update().get(pk=chat.pk)


def _require_role(chat: Chat, actor: User | None, roles: tuple[str, ...], action: str) -> Membership | None:
    """Checks that `actor` holds one of `roles` in the chat; `actor=None` is a trusted system
    path (Django admin, shell) and passes. A non-member gets 404, like everywhere else."""
    if actor is None:
        return None
    membership = member_get(chat=chat, user_id=actor.pk)
    if membership.role not in roles:
        raise PermissionDeniedError(f"Only the chat's {' or '.join(roles)} may {action}.")
    return membership


ADMINS = (Role.OWNER, Role.ADMIN)


def _require_assignable(role: str) -> None:
    """A chat has one owner, its creator: the role given to a member is admin or member."""
    if role not in (Role.ADMIN, Role.MEMBER):
        raise ApplicationError("A member's role is admin or member.", extra={"fields": {"role": ["Invalid role."]}})


def _users_by_id(user_ids: Iterable[int]) -> dict[int, User]:
    wanted = set(user_ids)
    users = {user.pk: user for user in User.objects.filter(pk__in=wanted, is_active=True)}
    if wanted - users.keys():
        # Which ids are not users is not said: the answer must not tell who has an account.
        raise ApplicationError("Unknown user.", extra={"fields": {"member_ids": [UNKNOWN_USERS]}})
    return users


UNKNOWN_USERS = "One or more of these ids is not a user who can be added."


def _membership_add(*, chat: Chat, user: User, role: str, added_by: User | None) -> Membership:
    """Adds one member; the caller holds the chat lock and has checked access."""
    try:
        with transaction.atomic():
            membership = Membership.objects.create(chat=chat, user=user, role=role)
    except IntegrityError:
        raise ConflictError(f"{user.username} is already a member of this chat.") from None
    data = membership_data(membership) | {"chat": chat_data(chat), "added_by": added_by.pk if added_by else None}
    # The new member is not on the chat's channel yet: their personal channel tells them.
    event_emit(type="member.added", chat_id=chat.pk, data=data, also_to=[user.pk])
    # Notifications emails the chat's admins, from a Celery task sent after this transaction
    # commits (notifications.receivers).
    member_added.send(sender=Membership, membership=membership, added_by=added_by)
    return membership


@transaction.atomic
def chat_create(
    *, created_by: User, title: str = "", kind: str = Chat.Kind.GROUP, member_ids: Iterable[int] = ()
) -> Chat:
    """Creates a chat owned by `created_by`, with the given users as plain members.

    A direct chat is between its creator and exactly one other user.
    """
    others = _users_by_id(set(member_ids) - {created_by.pk})
    add_consent_require(adder=created_by, users=others.values())
    if kind == Chat.Kind.DIRECT and len(others) != 1:
        raise ApplicationError(
            "A direct chat is with exactly one other user.",
            extra={"fields": {"member_ids": ["Give exactly one other user's id for a direct chat."]}},
        )
    if len(others) + 1 > settings.CHAT_MEMBERS_MAX:
        raise ApplicationError(
            f"A chat has at most {settings.CHAT_MEMBERS_MAX} members.",
            extra={"fields": {"member_ids": [f"At most {settings.CHAT_MEMBERS_MAX - 1} other members."]}},
        )
    chat = Chat.objects.create(title=title, kind=kind, created_by=created_by)
    Membership.objects.create(chat=chat, user=created_by, role=Role.OWNER)
    for user in others.values():
        Membership.objects.create(chat=chat, user=user, role=Role.MEMBER)
    # Nobody is on the new chat's channel yet: each member hears of it on their own.
    event_emit(type="chat.created", chat_id=chat.pk, data=chat_data(chat), also_to=[created_by.pk, *others])
    return chat


@transaction.atomic
def chat_update(*, chat: Chat, actor: User | None, title: str | None = None, announcement: bool | None = None) -> Chat:
    """Changes the title and/or announcement mode (only the owner and admins post)."""
    chat = _lock_chat(chat)
    _require_role(chat, actor, ADMINS, "change it")
    if title is not None:
        chat.title = title
    if announcement is not None:
        chat.announcement = announcement
    chat.save(update_fields=["title", "announcement", "updated_at"])
    event_emit(type="chat.updated", chat_id=chat.pk, data=chat_data(chat))
    return chat


@transaction.atomic
def chat_delete(*, chat: Chat, actor: User | None) -> None:
    chat = _lock_chat(chat)
    _require_role(chat, actor, (Role.OWNER,), "delete it")
    chat_id, recipients = chat.pk, member_ids(chat=chat)
    chat.delete()
    # The memberships are gone with the chat: every former member is named.
    event_emit(type="chat.deleted", chat_id=chat_id, data={"id": chat_id}, to_members=False, also_to=recipients)


def _require_room(chat: Chat) -> None:
    """CHAT_MEMBERS_MAX: every message fans out to each member. The caller holds the chat lock."""
    if chat.memberships.count() >= settings.CHAT_MEMBERS_MAX:
        raise ConflictError(
            f"This chat is full: a chat has at most {settings.CHAT_MEMBERS_MAX} members.",
            extra={"limit": settings.CHAT_MEMBERS_MAX},
        )


@transaction.atomic
def chat_member_add(*, chat: Chat, user: User, role: str = Role.MEMBER, added_by: User | None) -> Membership:
    """Adds `user` to the chat. `added_by` is None for system paths (Django admin by staff
    who are not members, data imports); otherwise they must be an owner or admin, and only
    the owner grants the admin role."""
    chat = _lock_chat(chat)
    _require_assignable(role)
    if role == Role.ADMIN:
        _require_role(chat, added_by, (Role.OWNER,), "make admins")
    else:
        _require_role(chat, added_by, ADMINS, "add members")
    if chat.kind == Chat.Kind.DIRECT:
        raise ApplicationError("A direct chat cannot have more members.")
    if not user.is_active:
        raise ApplicationError("Unknown user.", extra={"fields": {"user_id": ["No active user with this id."]}})
    add_consent_require(adder=added_by, users=[user])
    role_consent_require(membership=None, role=role, actor=added_by)
    _require_room(chat)
    return _membership_add(chat=chat, user=user, role=role, added_by=added_by)


@transaction.atomic
def chat_member_update(*, chat: Chat, user_id: int, role: str, actor: User | None) -> Membership:
    chat = _lock_chat(chat)
    _require_role(chat, actor, (Role.OWNER,), "change roles")
    _require_assignable(role)
    membership = member_get(chat=chat, user_id=user_id)
    if membership.role == Role.OWNER:
        raise ApplicationError("The owner's role cannot change.")
    role_consent_require(membership=membership, role=role, actor=actor)
    membership.role = role
    membership.save(update_fields=["role"])
    event_emit(type="member.updated", chat_id=chat.pk, data=membership_data(membership))
    return membership


@transaction.atomic
def chat_owner_transfer(*, chat: Chat, user_id: int, actor: User | None) -> Membership:
    """Makes member `user_id` the owner; the owner becomes an admin. Only the owner may
    (`actor=None`: a system path, such as deleting the owner's account)."""
    chat = _lock_chat(chat)
    _require_role(chat, actor, (Role.OWNER,), "hand the chat over")
    owner = chat.memberships.select_related("user").get(role=Role.OWNER)
    heir = member_get(chat=chat, user_id=user_id)
    if heir.pk == owner.pk:
        return owner
    # The old owner steps down first: the database allows one owner per chat at any moment.
    owner.role = Role.ADMIN
    owner.save(update_fields=["role"])
    heir.role = Role.OWNER
    heir.save(update_fields=["role"])
    event_emit(type="member.updated", chat_id=chat.pk, data=membership_data(owner))
    event_emit(type="member.updated", chat_id=chat.pk, data=membership_data(heir))
    return heir


@transaction.atomic
def chat_member_remove(*, chat: Chat, user_id: int, actor: User | None) -> None:
    """Removes a member. Anyone may leave, except the owner; owners remove admins and
    members, admins remove members."""
    chat = _lock_chat(chat)
    if actor is not None:
        member_get(chat=chat, user_id=actor.pk)  # a non-member gets 404 first
    membership = member_get(chat=chat, user_id=user_id)
    # Permission before state: one who may not remove this member hears 403, not why the
    # removal could not happen anyway.
    if actor is not None and actor.pk != user_id:
        if membership.role in (Role.OWNER, Role.ADMIN):
            _require_role(chat, actor, (Role.OWNER,), "remove admins")
        else:
            _require_role(chat, actor, ADMINS, "remove members")
    if membership.role == Role.OWNER:
        raise ConflictError("The owner cannot leave the chat; delete the chat instead.")
    membership.delete()
    # Off the chat's channel first (the outbox keeps order), then told on their own channel.
    chat_unsubscribe_later(chat_id=chat.pk, user_id=user_id)
    event_emit(
        type="member.removed",
        chat_id=chat.pk,
        data={"chat_id": chat.pk, "user_id": user_id, "removed_by": actor.pk if actor else None},
        also_to=[user_id],
    )


# Checks membership, inserts the message (a repeated client_id inserts nothing), moves the
# chat's activity time and appends the event with its outbox rows: one statement, one round
# trip, atomic on its own or part of the caller's transaction. On its own it may commit with
# other requests' messages that arrive together (core.postgresql.group_commit); the wake-ups
# follow the commit (`realtime.services.wake_up`). No lock is taken beyond the chat row's, so
# writes to different chats never wait for each other (a transaction of several gives up on
# a row held elsewhere after 50 ms, and each of its messages goes on alone). The chat row is
# locked before the message takes its id: a chat's messages then commit in id order, so
# paging by `?after=<id>` and a read marker at an id never pass over a lower id that commits
# later.
_MESSAGE_INSERT = """
with member as (
    select m.role, c.announcement, c.kind from {membership} m join {chat} c on c.id = m.chat_id
    where m.chat_id = %(chat_id)s and m.user_id = %(author_id)s
),
allowed as (
    select 1 from member where not announcement or role in ('owner', 'admin')
),
locked as (
    select 1 from {chat} where id = %(chat_id)s and exists (select 1 from member) for no key update
),
new_message as (
    insert into {message} (chat_id, author_id, text, client_id, created_at, reply_to_id)
    select %(chat_id)s, %(author_id)s, %(text)s, %(client_id)s, %(created_at)s, %(reply_to_id)s from allowed, locked
    on conflict (author_id, chat_id, client_id) where client_id is not null do nothing
    returning id
),
activity as (
    update {chat} set last_activity_at = %(created_at)s
    where id = %(chat_id)s and exists (select 1 from new_message)
),
{event}
select (select id from new_message), exists (select 1 from member), exists (select 1 from allowed),
    (select kind from member)
"""


def message_insert_statement(message: Message) -> tuple[str, dict]:
    """The one statement that posts `message` (unsaved, its `created_at` and `reply_to` set)
    with its event and outbox rows, and its parameters (`message_create`; `python -m bench
    commit-batch` runs the same)."""
    event_sql, params, _ = event_insert_sql(
        type="message.created",
        chat_id=message.chat_id,
        data=message_data(message),
        source="new_message",
        data_sql="jsonb_set(%(event_data)s::jsonb, '{id}', to_jsonb(new_message.id))",
        wake_after_commit=True,
    )
    sql = _MESSAGE_INSERT.format(
        membership=Membership._meta.db_table, message=Message._meta.db_table, chat=Chat._meta.db_table, event=event_sql
    )
    params |= {"chat_id": message.chat_id, "author_id": message.author_id, "text": message.text}
    params |= {"client_id": message.client_id, "created_at": message.created_at, "reply_to_id": message.reply_to_id}
    return sql, params


def _message_written(row: tuple) -> bool:
    return row[0] is not None  # the new message's id; None: not a member, or a repeat


def _reply_target(*, chat_id: int, author: User, reply_to: int) -> Message:
    """The message a reply answers: in the same chat and not deleted (400 otherwise; a
    chat the author is not in stays a 404, so nothing about it leaks)."""
    original = Message.objects.select_related("author").filter(pk=reply_to, chat_id=chat_id).first()
    if original is None or original.deleted_at is not None:
        if not Membership.objects.filter(chat_id=chat_id, user=author).exists():
            raise NotFoundError("Chat not found.")
        reason = "No such message in this chat." if original is None else "That message was deleted."
        raise ApplicationError("A reply answers a message of the same chat.", extra={"fields": {"reply_to": [reason]}})
    return original


def message_create(
    *, chat_id: int, author: User, text: str, client_id: str | None = None, reply_to: int | None = None
) -> tuple[Message, bool]:
    """Posts a message as a member of the chat; returns it and whether it is new.

    A `client_id` the author already used in this chat returns the first message instead
    of a duplicate, so a client may retry a POST whose answer it never got. A chat the
    author is not in is not found; in an announcement chat only the owner and admins post
    (403). `reply_to` is a message of the same chat that this one answers.
    """
    if not 0 < chat_id <= MAX_ID:  # not an id PostgreSQL could hold: no such chat
        raise NotFoundError("Chat not found.")
    original = None if reply_to is None else _reply_target(chat_id=chat_id, author=author, reply_to=reply_to)
    message = Message(chat_id=chat_id, author=author, text=text, client_id=client_id, created_at=timezone.now())
    message.reply_to = original
    sql, params = message_insert_statement(message)
    message_id, is_member, is_allowed, chat_kind = group_commit.write(
        sql, params, order=chat_id, after_commit=wake_up, wrote=_message_written
    )
    if not is_member:
        raise NotFoundError("Chat not found.")
    if not is_allowed:
        raise PermissionDeniedError("This is an announcement chat: only its owner and admins post.")
    if message_id is None:  # this client_id was used before: the first message wins
        first = Message.objects.select_related("author", "reply_to__author")
        return first.get(chat_id=chat_id, author=author, client_id=client_id), False
    message.pk = message_id
    message_created.send(sender=Message, message=message, direct=chat_kind == Chat.Kind.DIRECT)
    return message, True


# Earlier versions kept per message, newest first: edits are not throttled, and an author
# editing in a loop must not grow the table without end.
MESSAGE_EDITS_KEPT = 50


def _lock_message(message: Message) -> Message:
    """Locks the message row (edits and deletes of one message take turns), author loaded."""
    return (
        Message.objects.select_for_update(of=("self",)).select_related("author", "reply_to__author").get(pk=message.pk)
    )


@transaction.atomic
def message_update(*, message: Message, actor: User | None, text: str) -> Message:
    """Edits the text; only its author may (`actor=None`: a moderator in the Django admin)."""
    message = _lock_message(message)
    if actor is not None and message.author_id != actor.pk:
        raise PermissionDeniedError("Only the author may edit a message.")
    if message.deleted_at is not None:
        raise ConflictError("A deleted message cannot be edited.")
    now = timezone.now()
    if text != message.text:  # the version it replaces, for GET .../edits/
        MessageEdit.objects.create(
            message=message, text=message.text, written_at=message.edited_at or message.created_at, replaced_at=now
        )
        older = MessageEdit.objects.filter(message=message).order_by("-id").values("id")[MESSAGE_EDITS_KEPT:]
        MessageEdit.objects.filter(message=message, id__in=older).delete()
    message.text = text
    message.edited_at = now
    message.save(update_fields=["text", "edited_at"])
    # The old text leaves the event log and Centrifugo's history: members see only the
    # current text (there is no edit history shown to them).
    data = message_data(message)
    message_events_redact(chat_id=message.chat_id, message_id=message.pk, data=data)
    event_emit(type="message.updated", chat_id=message.chat_id, data=data)
    return message


@transaction.atomic
def message_delete(*, message: Message, actor: User | None) -> Message:
    """Soft-deletes: the row stays (so paging has no holes) with its text cleared; the text
    is gone from every event and from Centrifugo's history, and its earlier versions and its
    reactions go with it."""
    message = _lock_message(message)
    if actor is not None and message.author_id != actor.pk:
        _require_role(message.chat, actor, ADMINS, "delete others' messages")
    if message.deleted_at is not None:
        return message
    MessageEdit.objects.filter(message=message).delete()
    # The reactions app's rows, through their reverse relation (see reactions.models).
    message.reaction_rows.all().delete()
    message.text = ""
    message.deleted_at = timezone.now()
    message.reactions = {}
    message.save(update_fields=["text", "deleted_at", "reactions"])
    # The text leaves the event log, the outbox and Centrifugo's history too: what a member
    # can still read anywhere is the tombstone.
    data = message_data(message)
    message_events_redact(chat_id=message.chat_id, message_id=message.pk, data=data)
    event_emit(type="message.deleted", chat_id=message.chat_id, data=data)
    return message


def user_chats_leave(*, user: User) -> None:
    """Takes a user who is being deleted out of every chat, so every change sends its
    events: each chat they own goes to another member (an admin first, then the
    longest-standing member) or, with no one else in it, is deleted."""
    memberships = Membership.objects.filter(user=user).select_related("chat").order_by("chat_id")
    for membership in memberships:
        chat = membership.chat
        if membership.role == Membership.Role.OWNER:
            heir = (
                chat.memberships.exclude(user=user)
                .order_by(F("user__is_active").desc(), Case(When(role="admin", then=0), default=1), "joined_at", "id")
                .first()
            )
            if heir is None:
                chat_delete(chat=chat, actor=None)
                continue
            chat_owner_transfer(chat=chat, user_id=heir.user_id, actor=None)
        chat_member_remove(chat=chat, user_id=user.pk, actor=None)
