"""OpenAPI for the event feed, whose views are async Django views that drf-spectacular does
not see (`edge.feed_apis`).

Polling and long polling (`GET /api/updates/`) are JSON and described here in full. The
SSE stream (`GET /api/updates/stream/`) is described in docs/transports.md instead: an
endless `text/event-stream` has no response schema, and a fuzzer reading it would never
finish.
"""

from typing import Any

from realtime.contract import feed_event_components
from realtime.selectors import FEED_PAGE_SIZE, FEED_PAGE_SIZE_MAX

from .feed_apis import LONG_POLL_WAIT_MAX

_PAGE = {
    "type": "object",
    "properties": {
        "events": {"type": "array", "items": {"$ref": "#/components/schemas/FeedEvent"}},
        "cursor": {"type": "integer", "description": "Send it as `after` next time."},
    },
    "required": ["events", "cursor"],
}
_ERROR = {
    "type": "object",
    "properties": {"message": {"type": "string"}, "extra": {"type": "object", "additionalProperties": True}},
    "required": ["message", "extra"],
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedError"}}},
    }


def add_update_feed_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: adds `GET /api/updates/`."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    # The events: a union discriminated by `type`, each type with its typed `data`.
    schemas.update(feed_event_components())
    schemas.update({"FeedPage": _PAGE, "FeedError": _ERROR})
    schemes = result["components"].get("securitySchemes", {})
    result.setdefault("paths", {})["/api/updates/"] = {
        "get": {
            "operationId": "updates_list",
            "summary": "The user's events after a cursor: polling, or long polling with `wait`",
            "description": (
                "Without `after`: no events and the current cursor (load state over REST, then poll from it). "
                "With `wait` > 0 the answer waits until an event arrives or `wait` seconds pass (then "
                "`events` is empty). The same events, in the same order, as the WebSocket and the SSE "
                "stream `GET /api/updates/stream/` (`Last-Event-ID` resumes; see docs/transports.md)."
            ),
            "tags": ["updates"],
            "parameters": [
                {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                {
                    "name": "wait",
                    "in": "query",
                    "schema": {"type": "number", "minimum": 0, "maximum": LONG_POLL_WAIT_MAX, "default": 0},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": FEED_PAGE_SIZE_MAX,
                        "default": FEED_PAGE_SIZE,
                    },
                },
            ],
            "security": [{name: []} for name in schemes],
            "responses": {
                "200": {
                    "description": "Events, oldest first, and the next cursor.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedPage"}}},
                },
                "400": _error("A bad `after`, `wait` or `limit`."),
                "401": _error("No or bad credentials."),
                "410": _error("The cursor is outside the event log (pruned, or not from it): reload, then start over."),
            },
        }
    }
    return result
