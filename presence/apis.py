"""The HTTP edge of typing and presence."""

import math

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services


class TypingApi(APIView):
    @extend_schema(
        request=None,
        responses={
            202: inline_serializer(
                "TypingPublished",
                {
                    "published": serializers.BooleanField(
                        help_text="Accepted; sent to the chat's viewers in the background."
                    )
                },
            ),
            429: OpenApiResponse(description="Sent again within the throttle interval."),
        },
    )
    def post(self, request: Request, chat_id: int) -> Response:
        """Announces that the caller is typing in the chat (members only, throttled)."""
        try:
            published = services.typing_publish(chat_id=chat_id, user=request.user)
        except services.TypingThrottledError as exc:
            return Response(
                {"message": exc.message, "extra": {}},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(math.ceil(settings.TYPING_THROTTLE_SECONDS))},
            )
        return Response({"published": published}, status=status.HTTP_202_ACCEPTED)
