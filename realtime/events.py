"""The event types and their envelope.

Every event has the same envelope, `{type, chat_id, id, data, ts}`; `data` is the same
representation the REST API returns for the object (the chats services build it with the API's
serializers), so a client can treat both alike.
"""

from typing import Any, Literal, TypedDict

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
    # To the user alone (chat_id 0): their access was revoked; a feed stream re-checks its
    # credentials (realtime.services.user_delivery_revoke).
    "user.revoked",
]


class EventEnvelope(TypedDict):
    type: EventType
    chat_id: int
    id: int
    data: dict[str, Any]
    ts: str
