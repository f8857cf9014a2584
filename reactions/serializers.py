import unicodedata

from rest_framework import serializers

from accounts.serializers import UserPublicSerializer
from chats.serializers import ListPageInputSerializer
from core.fields import MAX_ID, StrictCharField

from .models import EMOJI_MAX_LENGTH

# What an emoji may be made of: pictographs and symbols (So), skin tones (Sk), variation
# selectors and the keycap (Mn, Me), the zero-width joiner and tags (Cf).
_EMOJI_CATEGORIES = {"So", "Sk", "Mn", "Me", "Cf"}


def _regional(c: str) -> bool:
    return "\U0001f1e6" <= c <= "\U0001f1ff"


def emoji_validate(value: str) -> str:
    """One emoji: one pictograph, or several joined by zero-width joiners (a family), or
    two regional indicators (a flag), with modifiers and selectors around them."""
    pictographs = sum(1 for c in value if unicodedata.category(c) == "So" and not _regional(c))
    flags = sum(1 for c in value if _regional(c))
    joiners = value.count("\u200d")
    one = (pictographs == joiners + 1 and not flags) or (flags == 2 and not pictographs)
    if len(value.encode()) > EMOJI_MAX_LENGTH or not one:
        raise serializers.ValidationError("Give one emoji.")
    if any(unicodedata.category(c) not in _EMOJI_CATEGORIES for c in value):
        raise serializers.ValidationError("Give one emoji.")
    return value


class ReactionInputSerializer(serializers.Serializer):
    emoji = StrictCharField(max_length=EMOJI_MAX_LENGTH, trim_whitespace=False, validators=[emoji_validate])


class ReactionListInputSerializer(ListPageInputSerializer):
    emoji = StrictCharField(
        max_length=EMOJI_MAX_LENGTH, required=False, allow_blank=True, help_text="Only who reacted with this emoji."
    )


class ReactionChangedSerializer(serializers.Serializer):
    """The toggle's outcome, as the `reaction.changed` event carries it."""

    message_id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    emoji = serializers.CharField()
    added = serializers.BooleanField(help_text="True: the reaction was added; false: taken back.")
    count = serializers.IntegerField(help_text="How many reacted with this emoji now.")
    reactions = serializers.DictField(child=serializers.IntegerField(), help_text="Emoji -> count, for the message.")


class ReactionSerializer(serializers.Serializer):
    emoji = serializers.CharField()
    user = UserPublicSerializer(allow_null=True, help_text="null: a deleted account.")
    created_at = serializers.DateTimeField()


class ReactionPageSerializer(serializers.Serializer):
    results = ReactionSerializer(many=True)
    next_offset = serializers.IntegerField(allow_null=True)


class MyReactionsInputSerializer(serializers.Serializer):
    message_id = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=200,
        help_text="Repeat for each message: `?message_id=1&message_id=2`.",
    )


class MyReactionSerializer(serializers.Serializer):
    message_id = serializers.IntegerField()
    emoji = serializers.CharField()


class MyReactionListSerializer(serializers.Serializer):
    results = MyReactionSerializer(many=True)
