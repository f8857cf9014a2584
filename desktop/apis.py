from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.fields import validated

from . import services


class DesktopSettingsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(
        help_text="Desktop notifications for mentions and direct messages while the page is hidden."
    )


class DesktopSettingsApi(APIView):
    """The caller's desktop-notification setting, beside the digest's (`notifications/settings/`)."""

    @extend_schema(responses={200: DesktopSettingsSerializer})
    def get(self, request: Request) -> Response:
        return Response(DesktopSettingsSerializer(services.desktop_settings_get(user=request.user)).data)

    @extend_schema(request=DesktopSettingsSerializer, responses={200: DesktopSettingsSerializer})
    def patch(self, request: Request) -> Response:
        params = validated(DesktopSettingsSerializer, request.data)
        preference = services.desktop_settings_update(user=request.user, **params)
        return Response(DesktopSettingsSerializer(preference).data)
