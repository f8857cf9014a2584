"""The HTTP edge of read state."""

from dataclasses import asdict

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.throttling import ReadMarkerAddressThrottle, ReadMarkerThrottle

from . import selectors, services
from .serializers import ReadInputSerializer, ReadMarkerSerializer, ReadStateSerializer


class ChatReadApi(APIView):
    throttle_classes = [ReadMarkerThrottle, ReadMarkerAddressThrottle]  # POST only

    @extend_schema(responses={200: ReadStateSerializer})
    def get(self, request: Request, chat_id: int) -> Response:
        return Response(asdict(selectors.chat_read_state_get(user=request.user, chat_id=chat_id)))

    @extend_schema(
        request=ReadInputSerializer,
        responses={200: ReadStateSerializer, 429: OpenApiResponse(description="Too many requests; see Retry-After.")},
    )
    def post(self, request: Request, chat_id: int) -> Response:
        """Moves the caller's read marker forward to `up_to` (never back): `read.updated`."""
        params = ReadInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services.read_marker_move(chat_id=chat_id, user=request.user, up_to=params.validated_data["up_to"])
        return Response(asdict(selectors.chat_read_state_get(user=request.user, chat_id=chat_id)))


class ChatReadMarkerListApi(APIView):
    @extend_schema(responses={200: ReadMarkerSerializer(many=True)})
    def get(self, request: Request, chat_id: int) -> Response:
        """Every member's read marker: "seen" in a direct chat, "read by N" in a group."""
        return Response(selectors.read_marker_list(chat_id=chat_id, user=request.user))
