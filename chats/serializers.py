"""The JSON of chats, members and messages: the REST API and the events both use it."""

from typing import Any

from django.conf import settings
from rest_framework import serializers

from accounts.serializers import UserPublicSerializer
from core.fields import MAX_ID, StrictCharField, validated
from realtime.events import QUOTE_LENGTH

from .models import MESSAGE_MAX_LENGTH, Chat, Membership, Message

# The roles a member can be given; the owner is the chat's creator.
ASSIGNABLE_ROLES = [(Membership.Role.ADMIN.value, "Admin"), (Membership.Role.MEMBER.value, "Member")]


class ChatSerializer(serializers.ModelSerializer):
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Chat
        fields = ["id", "title", "kind", "created_by", "created_at", "updated_at", "last_activity_at", "announcement"]
        read_only_fields = fields


class MembershipSerializer(serializers.ModelSerializer):
    user = UserPublicSerializer(read_only=True)
    chat_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Membership
        fields = ["chat_id", "user", "role", "joined_at"]
        read_only_fields = fields


class ReplyQuoteSerializer(serializers.Serializer):
    """The quoted original of a reply, as it is now (a deleted one: `deleted`, no text)."""

    id = serializers.IntegerField()
    author = UserPublicSerializer(allow_null=True)
    text = serializers.SerializerMethodField()
    deleted = serializers.SerializerMethodField()

    def get_text(self, original: Message) -> str:
        return "" if original.deleted_at else original.text[:QUOTE_LENGTH]

    def get_deleted(self, original: Message) -> bool:
        return original.deleted_at is not None


class MessageSerializer(serializers.ModelSerializer):
    author = UserPublicSerializer(read_only=True, allow_null=True)
    chat_id = serializers.IntegerField(read_only=True)
    reply_to = ReplyQuoteSerializer(read_only=True, allow_null=True)
    reactions = serializers.DictField(
        child=serializers.IntegerField(), read_only=True, help_text="Emoji -> how many members reacted with it."
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "chat_id",
            "author",
            "text",
            "client_id",
            "created_at",
            "edited_at",
            "deleted_at",
            "reply_to",
            "reactions",
        ]
        read_only_fields = fields


class MessageEditSerializer(serializers.Serializer):
    """An earlier version of a message: its text, when it was written and when replaced."""

    text = serializers.CharField()
    written_at = serializers.DateTimeField()
    replaced_at = serializers.DateTimeField()


class MessageEditListSerializer(serializers.Serializer):
    results = MessageEditSerializer(many=True)


class ChatCreateInputSerializer(serializers.Serializer):
    title = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=Chat.Kind.choices, default=Chat.Kind.GROUP)
    member_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, default=list, max_length=100
    )


class ChatUpdateInputSerializer(serializers.Serializer):
    title = StrictCharField(max_length=200, allow_blank=True, required=False)
    announcement = serializers.BooleanField(required=False, help_text="Only the owner and admins post.")

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError("Give `title` or `announcement`.")
        return attrs


class MemberAddInputSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    role = serializers.ChoiceField(choices=ASSIGNABLE_ROLES, default=Membership.Role.MEMBER.value)


class MemberUpdateInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ASSIGNABLE_ROLES)


class MessageCreateInputSerializer(serializers.Serializer):
    text = StrictCharField(min_length=1, max_length=MESSAGE_MAX_LENGTH, trim_whitespace=False)
    client_id = StrictCharField(min_length=1, max_length=64, required=False)
    reply_to = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="The id of the message this one answers, in this chat."
    )

    def validate_text(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("A message needs some text.")
        return value


def _plain_text(value: object, max_length: int) -> bool:
    """A string the serializer's text fields take as it is: not blank, not too long, no NUL
    and no lone surrogate (which UTF-8 cannot encode)."""
    if type(value) is not str or not 0 < len(value) <= max_length or "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def message_create_input(data: Any) -> dict[str, Any]:
    """`MessageCreateInputSerializer`'s validated data, without building a serializer for
    the usual body (the message POST is the hottest request): a JSON object whose fields are
    plainly valid is taken as it is; anything else, an error or a value the serializer would
    convert, goes through the serializer, so every refusal is its own, word for word."""
    if type(data) is dict:
        text, client_id, reply_to = data.get("text"), data.get("client_id", ""), data.get("reply_to", 1)
        if (
            _plain_text(text, MESSAGE_MAX_LENGTH)
            and not text.isspace()
            and ("client_id" not in data or _plain_text(client_id, 64))
            and type(reply_to) is int
            and 0 < reply_to <= MAX_ID
        ):
            return {key: data[key] for key in ("text", "client_id", "reply_to") if key in data}
    return validated(MessageCreateInputSerializer, data)


class MessageUpdateInputSerializer(MessageCreateInputSerializer):
    client_id = None
    reply_to = None


class MessagePageInputSerializer(serializers.Serializer):
    """Cursor paging by message id: `before` (older page) or `after` (newer page)."""

    before = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    after = serializers.IntegerField(min_value=0, max_value=MAX_ID, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=50)

    def validate(self, attrs: dict) -> dict:
        if "before" in attrs and "after" in attrs:
            raise serializers.ValidationError("Give `before` or `after`, not both.")
        return attrs


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    has_older = serializers.BooleanField()
    has_newer = serializers.BooleanField()


class ListPageInputSerializer(serializers.Serializer):
    """`?limit=&offset=` for the chat and member lists; follow `next_offset` until it is null."""

    limit = serializers.IntegerField(
        min_value=1, max_value=settings.LIST_PAGE_SIZE_MAX, default=settings.LIST_PAGE_SIZE
    )
    offset = serializers.IntegerField(min_value=0, max_value=MAX_ID, default=0)


class MemberListInputSerializer(ListPageInputSerializer):
    q = StrictCharField(
        max_length=150, required=False, allow_blank=True, help_text="Only members whose username contains this."
    )


class MembershipPageSerializer(serializers.Serializer):
    results = MembershipSerializer(many=True)
    next_offset = serializers.IntegerField(allow_null=True, help_text="The offset of the next page; null: no more.")
