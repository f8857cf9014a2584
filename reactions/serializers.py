import unicodedata

from rest_framework import serializers

from accounts.serializers import UserPublicSerializer
from chats.serializers import ListPageInputSerializer
from core.fields import StrictCharField

from .models import EMOJI_MAX_LENGTH

# What an emoji may be made of: pictographs and symbols (So), skin tones (Sk), variation
# selectors and the keycap (Mn, Me), the zero-width joiner and tags (Cf).
_EMOJI_CATEGORIES = {"So", "Sk", "Mn", "Me", "Cf"}


def emoji_validate(value: str) -> str:
    if (
        len(value.encode()) > EMOJI_MAX_LENGTH
        or not any(unicodedata.category(c) == "So" for c in value)
        or any(unicodedata.category(c) not in _EMOJI_CATEGORIES for c in value)
    ):
        raise serializers.ValidationError("Give one emoji.")
    return value


class ReactionInputSerializer(serializers.Serializer):
    emoji = StrictCharField(max_length=EMOJI_MAX_LENGTH, validators=[emoji_validate])


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
    user = UserPublicSerializer()
    created_at = serializers.DateTimeField()


class ReactionPageSerializer(serializers.Serializer):
    results = ReactionSerializer(many=True)
    next_offset = serializers.IntegerField(allow_null=True)
