from rest_framework import serializers

from core.fields import StrictCharField

from .models import PushSubscription


class PushKeysSerializer(serializers.Serializer):
    p256dh = StrictCharField(max_length=200)
    auth = StrictCharField(max_length=100)


class PushSubscriptionInputSerializer(serializers.Serializer):
    """What `PushSubscription.toJSON()` gives in the browser (expirationTime is ignored)."""

    endpoint = serializers.URLField(max_length=2048)
    keys = PushKeysSerializer()


class PushSubscriptionDeleteInputSerializer(serializers.Serializer):
    endpoint = serializers.URLField(max_length=2048)


class PushSubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PushSubscription
        fields = ["id", "endpoint", "created_at", "last_sent_at"]
        read_only_fields = fields


class PushConfigSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    public_key = serializers.CharField(help_text="The VAPID public key: the browser's applicationServerKey.")
