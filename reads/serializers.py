from rest_framework import serializers

from chats.serializers import ChatSerializer
from core.fields import MAX_ID


class ReadInputSerializer(serializers.Serializer):
    up_to = serializers.IntegerField(min_value=0, max_value=MAX_ID, help_text="A message id: read up to it.")


class ReadStateSerializer(serializers.Serializer):
    chat_id = serializers.IntegerField()
    last_read_id = serializers.IntegerField()
    unread_count = serializers.IntegerField(help_text="Capped: see `unread_more`.")
    mention_count = serializers.IntegerField()
    unread_more = serializers.BooleanField(help_text="More unread messages than `unread_count` says.")


class ReadMarkerSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    last_read_id = serializers.IntegerField()


class ChatWithReadStateSerializer(ChatSerializer):
    """A chat in the caller's chat list: the chat and the caller's read state of it."""

    last_read_id = serializers.IntegerField(read_only=True)
    unread_count = serializers.IntegerField(read_only=True)
    mention_count = serializers.IntegerField(read_only=True)
    unread_more = serializers.BooleanField(read_only=True)

    class Meta(ChatSerializer.Meta):
        fields = [*ChatSerializer.Meta.fields, "last_read_id", "unread_count", "mention_count", "unread_more"]
        read_only_fields = fields


class ChatWithReadStatePageSerializer(serializers.Serializer):
    results = ChatWithReadStateSerializer(many=True)
    next_offset = serializers.IntegerField(allow_null=True, help_text="The offset of the next page; null: no more.")
