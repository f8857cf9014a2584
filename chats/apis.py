"""The HTTP edge of chats: validate input, call one selector or service, serialize."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from core.exceptions import ApplicationError
from core.fields import validated
from core.metrics import MESSAGES_ACCEPTED
from core.pagination import offset_page
from core.throttling import (
    ChatCreateAddressThrottle,
    ChatCreateRateThrottle,
    ChatCreateThrottle,
    MemberAddThrottle,
    MemberRoleAddressThrottle,
    MemberRoleThrottle,
    MessageEditAddressThrottle,
    MessageEditThrottle,
    MessagePostThrottle,
)

from . import selectors, services
from .representations import chat_data, membership_data, message_data, message_edit_data
from .serializers import (
    ChatCreateInputSerializer,
    ChatSerializer,
    ChatUpdateInputSerializer,
    MemberAddInputSerializer,
    MemberListInputSerializer,
    MembershipPageSerializer,
    MembershipSerializer,
    MemberUpdateInputSerializer,
    MessageCreateInputSerializer,
    MessageEditListSerializer,
    MessagePageInputSerializer,
    MessagePageSerializer,
    MessageSerializer,
    MessageUpdateInputSerializer,
    message_create_input,
)

THROTTLED = OpenApiResponse(description="Too many requests; see the Retry-After header.")


class ChatListApi(APIView):
    """`/api/chats/`: POST creates a chat. The list (GET) shows each chat's unread and mention
    counts, so the reads app serves the path (`reads.apis.ChatListApi` adds the GET)."""

    throttle_classes = [ChatCreateRateThrottle, ChatCreateAddressThrottle, ChatCreateThrottle]  # POST only

    @extend_schema(request=ChatCreateInputSerializer, responses={201: ChatSerializer, 429: THROTTLED})
    def post(self, request: Request) -> Response:
        chat = services.chat_create(created_by=request.user, **validated(ChatCreateInputSerializer, request.data))
        return Response(chat_data(chat), status=status.HTTP_201_CREATED)


class ChatDetailApi(APIView):
    @extend_schema(responses={200: ChatSerializer})
    def get(self, request: Request, chat_id: int) -> Response:
        chat = selectors.chat_get_for_member(chat_id=chat_id, user=request.user)
        return Response(chat_data(chat))

    @extend_schema(request=ChatUpdateInputSerializer, responses={200: ChatSerializer})
    def patch(self, request: Request, chat_id: int) -> Response:
        chat = selectors.chat_get_for_member(chat_id=chat_id, user=request.user)
        chat = services.chat_update(chat=chat, actor=request.user, **validated(ChatUpdateInputSerializer, request.data))
        return Response(chat_data(chat))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, chat_id: int) -> Response:
        chat = selectors.chat_get_for_member(chat_id=chat_id, user=request.user)
        services.chat_delete(chat=chat, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListApi(APIView):
    throttle_classes = [MemberAddThrottle]  # POST only

    @extend_schema(
        operation_id="chats_members_list",
        parameters=[MemberListInputSerializer],
        responses={200: MembershipPageSerializer},
    )
    def get(self, request: Request, chat_id: int) -> Response:
        chat = selectors.chat_get_for_member(chat_id=chat_id, user=request.user)
        params = validated(MemberListInputSerializer, request.query_params)
        members, next_offset = offset_page(selectors.membership_list(chat=chat, q=params.pop("q", "")), **params)
        return Response({"results": [membership_data(m) for m in members], "next_offset": next_offset})

    @extend_schema(
        request=MemberAddInputSerializer,
        responses={
            201: MembershipSerializer,
            409: OpenApiResponse(description="Already a member, or the chat is full (CHAT_MEMBERS_MAX)."),
            429: THROTTLED,
        },
    )
    def post(self, request: Request, chat_id: int) -> Response:
        chat = selectors.chat_get_for_member(chat_id=chat_id, user=request.user)
        data = validated(MemberAddInputSerializer, request.data)
        user = User.objects.filter(pk=data["user_id"], is_active=True).first()
        if user is None:
            raise ApplicationError("Unknown user.", extra={"fields": {"user_id": ["No active user with this id."]}})
        membership = services.chat_member_add(chat=chat, user=user, role=data["role"], added_by=request.user)
        return Response(membership_data(membership), status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    throttle_classes = [MemberRoleThrottle, MemberRoleAddressThrottle]  # PATCH only

    @extend_schema(request=MemberUpdateInputSerializer, responses={200: MembershipSerializer, 429: THROTTLED})
    def patch(self, request: Request, chat_id: int, user_id: int) -> Response:
        chat = selectors.chat_get_for_member(chat_id=chat_id, user=request.user)
        membership = services.chat_member_update(
            chat=chat, user_id=user_id, actor=request.user, **validated(MemberUpdateInputSerializer, request.data)
        )
        return Response(membership_data(membership))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, chat_id: int, user_id: int) -> Response:
        chat = selectors.chat_get_for_member(chat_id=chat_id, user=request.user)
        services.chat_member_remove(chat=chat, user_id=user_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageListApi(APIView):
    throttle_classes = [MessagePostThrottle]  # POST only

    @extend_schema(parameters=[MessagePageInputSerializer], responses={200: MessagePageSerializer})
    def get(self, request: Request, chat_id: int) -> Response:
        chat = selectors.chat_get_for_member(chat_id=chat_id, user=request.user)
        page, has_older, has_newer = selectors.message_page(
            chat=chat, **validated(MessagePageInputSerializer, request.query_params)
        )
        return Response({"results": [message_data(m) for m in page], "has_older": has_older, "has_newer": has_newer})

    @extend_schema(
        request=MessageCreateInputSerializer,
        responses={
            201: MessageSerializer,
            200: OpenApiResponse(MessageSerializer, "Seen client_id: the first message."),
            400: OpenApiResponse(description="Bad input; `reply_to` not a live message of this chat."),
            403: OpenApiResponse(description="An announcement chat: only its owner and admins post."),
            429: THROTTLED,
        },
    )
    def post(self, request: Request, chat_id: int) -> Response:
        message, created = services.message_create(
            chat_id=chat_id, author=request.user, **message_create_input(request.data)
        )
        if created:
            MESSAGES_ACCEPTED.inc()
        return Response(message_data(message), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class MessageDetailApi(APIView):
    throttle_classes = [MessageEditThrottle, MessageEditAddressThrottle]  # PATCH and DELETE

    @extend_schema(request=MessageUpdateInputSerializer, responses={200: MessageSerializer, 429: THROTTLED})
    def patch(self, request: Request, chat_id: int, message_id: int) -> Response:
        chat = selectors.chat_get_for_member(chat_id=chat_id, user=request.user)
        message = selectors.message_get(chat=chat, message_id=message_id)
        message = services.message_update(
            message=message, actor=request.user, **validated(MessageUpdateInputSerializer, request.data)
        )
        return Response(message_data(message))

    @extend_schema(responses={204: None, 429: THROTTLED})
    def delete(self, request: Request, chat_id: int, message_id: int) -> Response:
        chat = selectors.chat_get_for_member(chat_id=chat_id, user=request.user)
        services.message_delete(message=selectors.message_get(chat=chat, message_id=message_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageEditListApi(APIView):
    @extend_schema(responses={200: MessageEditListSerializer})
    def get(self, request: Request, chat_id: int, message_id: int) -> Response:
        """The message's earlier versions, oldest first; members only. A deleted message has none."""
        chat = selectors.chat_get_for_member(chat_id=chat_id, user=request.user)
        message = selectors.message_get(chat=chat, message_id=message_id)
        return Response({"results": [message_edit_data(e) for e in selectors.message_edit_list(message=message)]})
