"""The event types, their envelope, and the shape of each type's `data`: the contract.

Every event has the same envelope, `{type, chat_id, id, data, ts}`. Each type's `data` is
one of the TypedDicts below (`EVENT_DATA`); for chats, members and messages it is the same
representation the REST API returns for the object, so a client can treat both alike.
OpenAPI documents the feed's events as a union discriminated by `type`, built from these
(`realtime.contract`), and every test that makes events validates each one against it
(the root conftest's `events_match_the_contract`).
"""

from typing import Annotated, Any, Literal, TypedDict

# A string in ISO 8601 (what DRF writes for a DateTimeField).
DateTime = Annotated[str, "date-time"]

EventType = Literal[
    "chat.created",
    "chat.updated",
    "chat.deleted",
    "member.added",
    "member.updated",
    "member.removed",
    "message.created",
    "message.updated",
    "message.deleted",
    "read.updated",
    "reaction.changed",
    # To the user alone (chat_id 0): their access was revoked; a feed stream re-checks its
    # credentials (realtime.services.user_delivery_revoke).
    "user.revoked",
    # A file sent with a message (attachments app): made with it, then ready or failed
    # once its thumbnail task ran.
    "attachment.created",
    "attachment.updated",
]


class EventEnvelope(TypedDict):
    type: EventType
    chat_id: int
    id: int
    data: dict[str, Any]
    ts: str


class UserPublicData(TypedDict):
    id: int
    username: str


class ChatData(TypedDict):
    """chat.created, chat.updated: the chat as `GET /api/chats/{id}/` returns it."""

    id: int
    title: str
    kind: Literal["direct", "group"]
    created_by: int | None
    created_at: DateTime
    updated_at: DateTime
    last_activity_at: DateTime
    announcement: bool


class ChatDeletedData(TypedDict):
    id: int


class MembershipData(TypedDict):
    """member.updated: the membership as `GET /api/chats/{id}/members/` lists it."""

    chat_id: int
    user: UserPublicData
    role: Literal["owner", "admin", "member"]
    joined_at: DateTime


class MemberAddedData(MembershipData):
    """member.added: the membership, the chat (the new member may not know it yet) and who added them."""

    chat: ChatData
    added_by: int | None


class MemberRemovedData(TypedDict):
    chat_id: int
    user_id: int
    removed_by: int | None


class ReplyQuoteData(TypedDict):
    """The original a reply quotes, as it is when the reply is read: deleted, it has no text."""

    id: int
    author: UserPublicData | None
    text: str
    deleted: bool


class MessageData(TypedDict):
    """message.created, .updated, .deleted: the message as the REST API returns it."""

    id: int
    chat_id: int
    author: UserPublicData | None
    text: str
    client_id: str | None
    created_at: DateTime
    edited_at: DateTime | None
    deleted_at: DateTime | None
    reply_to: ReplyQuoteData | None
    reactions: dict[str, int]


# A quote shows the start of the original; the page links to the whole of it.
QUOTE_LENGTH = 200


def message_quote(data: MessageData) -> ReplyQuoteData:
    """The quote a reply carries of `data`'s message as it is now (a deleted one has no text):
    what chats.representations.reply_data builds, from an event's data (the feed's memory)."""
    deleted = data["deleted_at"] is not None
    return {
        "id": data["id"],
        "author": data["author"],
        "text": "" if deleted else data["text"][:QUOTE_LENGTH],
        "deleted": deleted,
    }


class ReadUpdatedData(TypedDict):
    """read.updated: a member's read marker moved forward (reads.services.read_marker_move)."""

    chat_id: int
    user_id: int
    last_read_id: int


class ReactionChangedData(TypedDict):
    """reaction.changed, to the chat's members: `user_id` added (`added`) or took back an
    `emoji` on a message; `count` is how many reacted with it now, `reactions` every count
    of the message (reactions.services.reaction_toggle)."""

    message_id: int
    user_id: int
    emoji: str
    added: bool
    count: int
    reactions: dict[str, int]


class UserRevokedData(TypedDict):
    """user.revoked, to the user alone (chat_id 0): logout, a token ended, a new password or a
    deactivation (realtime.services.user_delivery_revoke). The feed never passes it on: it
    makes the user's waiting streams re-check their credentials; WebSocket clients see it on
    their personal channel just before Centrifugo disconnects them."""

    reason: str


class AttachmentData(TypedDict):
    """attachment.created, attachment.updated: the attachment as `GET /api/attachments/{id}/`
    returns it. An image is `pending` until its thumbnail is made (`ready`, with
    `thumbnail_url`) or cannot be (`failed`)."""

    id: int
    chat_id: int
    message_id: int
    uploaded_by: int | None
    name: str
    content_type: str
    size: int
    width: int | None
    height: int | None
    status: Literal["pending", "ready", "failed"]
    url: str
    thumbnail_url: str | None
    created_at: DateTime


EVENT_DATA: dict[str, type] = {
    "chat.created": ChatData,
    "chat.updated": ChatData,
    "chat.deleted": ChatDeletedData,
    "member.added": MemberAddedData,
    "member.updated": MembershipData,
    "member.removed": MemberRemovedData,
    "message.created": MessageData,
    "message.updated": MessageData,
    "message.deleted": MessageData,
    "read.updated": ReadUpdatedData,
    "reaction.changed": ReactionChangedData,
    "user.revoked": UserRevokedData,
    "attachment.created": AttachmentData,
    "attachment.updated": AttachmentData,
}
