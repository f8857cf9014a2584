from rest_framework import serializers

from core.fields import StrictCharField

from .models import User


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "date_joined"]
        read_only_fields = fields


class UserPublicSerializer(serializers.ModelSerializer):
    """What other members of a chat see of a user: never the email."""

    class Meta:
        model = User
        fields = ["id", "username"]
        read_only_fields = fields


class RegisterInputSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    email = serializers.EmailField(max_length=254)
    password = StrictCharField(max_length=128, write_only=True, trim_whitespace=False)


class TokenInputSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False)


class TokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`; shown once.")
    expires_at = serializers.DateTimeField()


class PasswordChangeInputSerializer(serializers.Serializer):
    old_password = StrictCharField(max_length=128, trim_whitespace=False, write_only=True)
    new_password = StrictCharField(max_length=128, trim_whitespace=False, write_only=True)


class RegisterOutputSerializer(serializers.Serializer):
    """The same for every sign-up whose input is valid (no one learns who has an account)."""

    message = serializers.CharField()
