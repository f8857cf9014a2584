"""The event types and the JSON each one carries. One builder per domain change.

Every event has the same envelope, `{type, chat_id, id, data, ts}`; `data` is the same
representation the REST API returns for the object, so a client can treat both alike.
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
]


class EventEnvelope(TypedDict):
    type: EventType
    chat_id: int
    id: int
    data: dict[str, Any]
    ts: str
