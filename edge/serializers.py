from rest_framework import serializers


class ConnectionTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="JWT (HS256) for Centrifugo's connect; `sub` is the user id.")
    expires_at = serializers.DateTimeField(help_text="Ask for a new token before this.")
    ws_url = serializers.CharField(help_text="Centrifugo's WebSocket endpoint.")
    channel = serializers.CharField(
        help_text=(
            "The user's personal channel: the events of chats they are not subscribed to yet (added to,"
            " removed from, deleted); each chat's own events arrive on `chat:<id>`."
        )
    )


class SubscriptionTokenQuerySerializer(serializers.Serializer):
    channel = serializers.RegexField(
        r"^(chat|typing):[1-9][0-9]{0,18}$",
        help_text="A chat's channel: `chat:<chat id>` (its events) or `typing:<chat id>` (typing and presence "
        "of its viewers).",
    )


class SubscriptionTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="JWT (HS256) for subscribing to the channel; `sub` is the user id.")
    expires_at = serializers.DateTimeField(help_text="Ask for a new token before this.")
