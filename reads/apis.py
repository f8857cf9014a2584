"""The HTTP edge of read state."""

from dataclasses import asdict

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chats import apis as chats_apis
from chats.serializers import ListPageInputSerializer
from core.throttling import ReadMarkerAddressThrottle, ReadMarkerThrottle

from . import selectors, services
from .serializers import (
    ChatWithReadStatePageSerializer,
    ReadInputSerializer,
    ReadMarkerSerializer,
    ReadStateSerializer,
)


class ChatListApi(chats_apis.ChatListApi):
    """`/api/chats/`: the caller's chats, each with its unread and mention counts (GET), and
    chat creation (POST, the chats app's)."""

    @extend_schema(
        operation_id="chats_list",
        parameters=[ListPageInputSerializer],
        responses={200: ChatWithReadStatePageSerializer},
    )
    def get(self, request: Request) -> Response:
        params = ListPageInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        # selectors.chat_list's order, with the read state, in one query.
        chats, next_offset = selectors.chat_list_with_read_state(user=request.user, **params.validated_data)
        return Response({"results": chats, "next_offset": next_offset})


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
