from rest_framework import serializers

from chats.models import MESSAGE_MAX_LENGTH
from chats.serializers import MessageSerializer
from core.fields import MAX_ID, StrictCharField

from .models import Attachment


class AttachmentSerializer(serializers.ModelSerializer):
    """For OpenAPI: `representations.attachment_data` writes the same shape (a test keeps them equal)."""

    chat_id = serializers.IntegerField(read_only=True)
    message_id = serializers.IntegerField(read_only=True)
    uploaded_by = serializers.IntegerField(read_only=True, allow_null=True)
    url = serializers.CharField(read_only=True)
    thumbnail_url = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Attachment
        fields = [
            "id", "chat_id", "message_id", "uploaded_by", "name", "content_type", "size", "width", "height",
            "status", "url", "thumbnail_url", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class AttachmentUploadInputSerializer(serializers.Serializer):
    chat_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    file = serializers.FileField(allow_empty_file=False, max_length=1000)
    text = StrictCharField(max_length=MESSAGE_MAX_LENGTH, required=False, allow_blank=True, default="")
    client_id = StrictCharField(max_length=64, required=False, allow_null=True, default=None)


class AttachmentUploadOutputSerializer(serializers.Serializer):
    message = MessageSerializer()
    attachment = AttachmentSerializer()


class AttachmentListInputSerializer(serializers.Serializer):
    chat_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    message_id = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1, max_length=200
    )


class AttachmentListSerializer(serializers.Serializer):
    results = AttachmentSerializer(many=True)
