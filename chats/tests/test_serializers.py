"""The message POST's input fast path takes exactly what the serializer takes, and refuses
with the serializer's own words."""

import pytest
from rest_framework.exceptions import ValidationError

from chats.models import MESSAGE_MAX_LENGTH
from chats.serializers import MessageCreateInputSerializer, message_create_input
from core.fields import MAX_ID, validated

BODIES = [
    {"text": "hello"},
    {"text": "hello", "client_id": "c-1", "reply_to": 7, "ignored": True},
    {"text": " padded \n", "client_id": "x" * 64, "reply_to": MAX_ID},
    {"text": "x" * MESSAGE_MAX_LENGTH},
    {"text": "émoji 👍 and ünïcode"},
    {"text": "converted", "reply_to": "5"},
    {"text": "converted", "reply_to": 5.0},
    {"text": "ok", "reply_to": True},
    {"text": "ok", "reply_to": 0},
    {"text": "ok", "reply_to": MAX_ID + 1},
    {"text": "ok", "reply_to": None},
    {"text": "ok", "reply_to": "1e3"},
    {"text": "ok", "client_id": None},
    {"text": "ok", "client_id": ""},
    {"text": "ok", "client_id": "x" * 65},
    {"text": "ok", "client_id": 5},
    {"text": "ok", "client_id": "nul\x00"},
    {},
    {"text": ""},
    {"text": "   "},
    {"text": "\u2003\n"},
    {"text": "x" * (MESSAGE_MAX_LENGTH + 1)},
    {"text": "x" * (MESSAGE_MAX_LENGTH + 1) + "\x00"},
    {"text": 12},
    {"text": None},
    {"text": ["a"]},
    {"text": {"a": 1}},
    {"text": "nul \x00 byte"},
    {"text": "lone \ud800 surrogate"},
    [{"text": "a list"}],
    None,
    "text",
]


def _outcome(validate, body):
    try:
        return "valid", dict(validate(body))
    except ValidationError as exc:
        return "invalid", exc.detail


@pytest.mark.parametrize("body", BODIES, ids=repr)
def test_message_create_input_is_the_serializer(body):
    expected = _outcome(lambda data: validated(MessageCreateInputSerializer, data), body)
    assert _outcome(message_create_input, body) == expected
