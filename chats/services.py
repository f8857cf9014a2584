"""Every write to chats, members and messages. Each one checks access, changes the
database and emits its event in one transaction (see `realtime.services.event_emit`)."""

from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from core.exceptions import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError
from core.fields import MAX_ID
from notifications.services import member_added_notify_later
from realtime.services import chat_unsubscribe_later, event_emit, event_insert_sql

from .consent import add_consent_require, role_consent_require
from .models import Chat, Membership, Message
from .representations import chat_data, membership_data, message_data
from .selectors import member_get, member_ids

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
    unknown = sorted(wanted - users.keys())
    if unknown:
        raise ApplicationError(
            "Unknown user.", extra={"fields": {"user_id": [f"No active user with id {i}." for i in unknown]}}
        )
    return users


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
    # Emails the chat's admins, from a Celery task sent after this transaction commits.
    member_added_notify_later(membership=membership, added_by=added_by)
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
def chat_update(*, chat: Chat, actor: User | None, title: str) -> Chat:
    chat = _lock_chat(chat)
    _require_role(chat, actor, ADMINS, "change it")
    chat.title = title
    chat.save(update_fields=["title", "updated_at"])
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
    if membership.role == Role.OWNER:
        raise ConflictError("The owner cannot leave the chat; delete the chat instead.")
    if actor is not None and actor.pk != user_id:
        if membership.role == Role.ADMIN:
            _require_role(chat, actor, (Role.OWNER,), "remove admins")
        else:
            _require_role(chat, actor, ADMINS, "remove members")
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
# trip, atomic on its own (or part of the caller's transaction). No lock is taken beyond the
# chat row's update, so writes to different chats never wait for each other.
_MESSAGE_INSERT = """
with member as (
    select 1 from {membership} where chat_id = %(chat_id)s and user_id = %(author_id)s
),
new_message as (
    insert into {message} (chat_id, author_id, text, client_id, created_at)
    select %(chat_id)s, %(author_id)s, %(text)s, %(client_id)s, %(created_at)s from member
    on conflict (author_id, chat_id, client_id) where client_id is not null do nothing
    returning id
),
activity as (
    update {chat} set last_activity_at = %(created_at)s
    where id = %(chat_id)s and exists (select 1 from new_message)
),
{event}
select (select id from new_message), exists (select 1 from member)
"""


def message_create(*, chat_id: int, author: User, text: str, client_id: str | None = None) -> tuple[Message, bool]:
    """Posts a message as a member of the chat; returns it and whether it is new.

    A `client_id` the author already used in this chat returns the first message instead
    of a duplicate, so a client may retry a POST whose answer it never got. A chat the
    author is not in is not found.
    """
    if not 0 < chat_id <= MAX_ID:  # not an id PostgreSQL could hold: no such chat
        raise NotFoundError("Chat not found.")
    message = Message(chat_id=chat_id, author=author, text=text, client_id=client_id, created_at=timezone.now())
    data = message_data(message)
    event_sql, params, _ = event_insert_sql(
        type="message.created",
        chat_id=chat_id,
        data=data,
        source="new_message",
        data_sql="jsonb_set(%(event_data)s::jsonb, '{id}', to_jsonb(new_message.id))",
    )
    sql = _MESSAGE_INSERT.format(
        membership=Membership._meta.db_table, message=Message._meta.db_table, chat=Chat._meta.db_table, event=event_sql
    )
    params |= {"chat_id": chat_id, "author_id": author.pk, "text": text, "client_id": client_id}
    params["created_at"] = message.created_at
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        message_id, is_member = cursor.fetchone()
    if not is_member:
        raise NotFoundError("Chat not found.")
    if message_id is None:  # this client_id was used before: the first message wins
        return Message.objects.select_related("author").get(chat_id=chat_id, author=author, client_id=client_id), False
    message.pk = message_id
    return message, True


def _lock_message(message: Message) -> Message:
    """Locks the message row (edits and deletes of one message take turns), author loaded."""
    return Message.objects.select_for_update(of=("self",)).select_related("author").get(pk=message.pk)


@transaction.atomic
def message_update(*, message: Message, actor: User | None, text: str) -> Message:
    """Edits the text; only its author may (`actor=None`: a moderator in the Django admin)."""
    message = _lock_message(message)
    if actor is not None and message.author_id != actor.pk:
        raise PermissionDeniedError("Only the author may edit a message.")
    if message.deleted_at is not None:
        raise ConflictError("A deleted message cannot be edited.")
    message.text = text
    message.edited_at = timezone.now()
    message.save(update_fields=["text", "edited_at"])
    event_emit(type="message.updated", chat_id=message.chat_id, data=message_data(message))
    return message


@transaction.atomic
def message_delete(*, message: Message, actor: User | None) -> Message:
    """Soft-deletes: the row stays (so paging has no holes) with its text cleared."""
    message = _lock_message(message)
    if actor is not None and message.author_id != actor.pk:
        _require_role(message.chat, actor, ADMINS, "delete others' messages")
    if message.deleted_at is not None:
        return message
    message.text = ""
    message.deleted_at = timezone.now()
    message.save(update_fields=["text", "deleted_at"])
    event_emit(type="message.deleted", chat_id=message.chat_id, data=message_data(message))
    return message
