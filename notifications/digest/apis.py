"""The digest's HTTP edge: the caller's preference (API) and the signed unsubscribe link
(a page that works without signing in)."""

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from core.fields import validated

from . import services as digest_services


class DigestSettingsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="Missed-message digest emails on or off.")
    window_minutes = serializers.IntegerField(
        min_value=1, max_value=24 * 60, help_text="How long a message stays unread before it goes into a digest."
    )


class DigestSettingsUpdateSerializer(DigestSettingsSerializer):
    enabled = serializers.BooleanField(required=False)
    window_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, required=False)


class NotificationSettingsApi(APIView):
    @extend_schema(responses={200: DigestSettingsSerializer})
    def get(self, request: Request) -> Response:
        return Response(DigestSettingsSerializer(digest_services.digest_settings_get(user=request.user)).data)

    @extend_schema(request=DigestSettingsUpdateSerializer, responses={200: DigestSettingsSerializer})
    def patch(self, request: Request) -> Response:
        params = validated(DigestSettingsUpdateSerializer, request.data)
        preference = digest_services.digest_settings_update(user=request.user, **params)
        return Response(DigestSettingsSerializer(preference).data)


def _user_of(token: str) -> User | None:
    try:
        user_id = signing.Signer(salt=digest_services.UNSUBSCRIBE_SALT).unsign_object(token)["u"]
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    return User.objects.filter(pk=user_id).first()


# CSRF-exempt: the signed token is the proof, and mail clients' one-click unsubscribe
# (RFC 8058) POSTs without any cookie. A GET only asks: link scanners that prefetch it
# change nothing.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def digest_unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    user = _user_of(token)
    if user is None:
        return render(request, "notifications/unsubscribe.html", {"bad": True}, status=400)
    if request.method == "POST":
        digest_services.digest_unsubscribe(token=token)
        return render(request, "notifications/unsubscribe.html", {"done": True, "user": user})
    return render(request, "notifications/unsubscribe.html", {"user": user})
