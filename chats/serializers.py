"""The JSON of chats, members and messages: the REST API and the events both use it."""

from django.conf import settings
from rest_framework import serializers

from accounts.serializers import UserPublicSerializer
from core.fields import MAX_ID, StrictCharField

from .models import MESSAGE_MAX_LENGTH, Chat, Membership, Message

# The roles a member can be given; the owner is the chat's creator.
ASSIGNABLE_ROLES = [(Membership.Role.ADMIN.value, "Admin"), (Membership.Role.MEMBER.value, "Member")]


class ChatSerializer(serializers.ModelSerializer):
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Chat
        fields = ["id", "title", "kind", "created_by", "created_at", "updated_at", "last_activity_at"]
        read_only_fields = fields


class MembershipSerializer(serializers.ModelSerializer):
    user = UserPublicSerializer(read_only=True)
    chat_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Membership
        fields = ["chat_id", "user", "role", "joined_at"]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    author = UserPublicSerializer(read_only=True, allow_null=True)
    chat_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Message
        fields = ["id", "chat_id", "author", "text", "client_id", "created_at", "edited_at", "deleted_at"]
        read_only_fields = fields


class ChatCreateInputSerializer(serializers.Serializer):
    title = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=Chat.Kind.choices, default=Chat.Kind.GROUP)
    member_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, default=list, max_length=100
    )


class ChatUpdateInputSerializer(serializers.Serializer):
    title = StrictCharField(max_length=200, allow_blank=True)


class MemberAddInputSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    role = serializers.ChoiceField(choices=ASSIGNABLE_ROLES, default=Membership.Role.MEMBER.value)


class MemberUpdateInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ASSIGNABLE_ROLES)


class MessageCreateInputSerializer(serializers.Serializer):
    text = StrictCharField(min_length=1, max_length=MESSAGE_MAX_LENGTH, trim_whitespace=False)
    client_id = StrictCharField(min_length=1, max_length=64, required=False)

    def validate_text(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("A message needs some text.")
        return value


class MessageUpdateInputSerializer(MessageCreateInputSerializer):
    client_id = None


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


class MembershipPageSerializer(serializers.Serializer):
    results = MembershipSerializer(many=True)
    next_offset = serializers.IntegerField(allow_null=True, help_text="The offset of the next page; null: no more.")
