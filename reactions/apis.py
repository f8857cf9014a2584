"""Reactions over HTTP: toggle one (POST), list who reacted (GET, for the page's hover)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chats import selectors as chat_selectors
from chats.representations import iso_time, user_public_data
from core.fields import validated
from core.pagination import offset_page
from core.throttling import ScopeThrottle

from . import selectors, services
from .serializers import (
    MyReactionListSerializer,
    MyReactionsInputSerializer,
    ReactionChangedSerializer,
    ReactionInputSerializer,
    ReactionListInputSerializer,
    ReactionPageSerializer,
)


class ReactionThrottle(ScopeThrottle):
    scope = "reaction"


class ReactionListApi(APIView):
    throttle_classes = [ReactionThrottle]  # POST only

    @extend_schema(
        operation_id="chats_messages_reactions_list",
        parameters=[ReactionListInputSerializer],
        responses={200: ReactionPageSerializer},
    )
    def get(self, request: Request, chat_id: int, message_id: int) -> Response:
        chat = chat_selectors.chat_get_for_member(chat_id=chat_id, user=request.user)
        message = chat_selectors.message_get(chat=chat, message_id=message_id)
        params = validated(ReactionListInputSerializer, request.query_params)
        emoji = params.pop("emoji", "")
        rows, next_offset = offset_page(selectors.reaction_list(message=message, emoji=emoji), **params)
        results = [
            {"emoji": r.emoji, "user": user_public_data(r.user), "created_at": iso_time(r.created_at)} for r in rows
        ]
        return Response({"results": results, "next_offset": next_offset})

    @extend_schema(
        operation_id="chats_messages_reactions_toggle",
        request=ReactionInputSerializer,
        responses={
            200: ReactionChangedSerializer,
            409: OpenApiResponse(description="The message is deleted, or has the most different reactions."),
            429: OpenApiResponse(description="Too many requests; see the Retry-After header."),
        },
    )
    def post(self, request: Request, chat_id: int, message_id: int) -> Response:
        """Adds the caller's reaction with this emoji, or takes it back if it is there."""
        chat_selectors.chat_get_for_member(chat_id=chat_id, user=request.user)  # members only
        emoji = validated(ReactionInputSerializer, request.data)["emoji"]
        data = services.reaction_toggle(chat_id=chat_id, message_id=message_id, user=request.user, emoji=emoji)
        return Response(data)


class MyReactionListApi(APIView):
    @extend_schema(
        operation_id="chats_reactions_mine",
        parameters=[MyReactionsInputSerializer],
        responses={200: MyReactionListSerializer},
    )
    def get(self, request: Request, chat_id: int) -> Response:
        """The caller's own reactions on the given messages of the chat (the page marks them)."""
        chat_selectors.chat_get_for_member(chat_id=chat_id, user=request.user)  # members only
        message_ids = validated(MyReactionsInputSerializer, request.query_params)["message_id"]
        rows = selectors.reactions_of_user(chat_id=chat_id, user_id=request.user.pk, message_ids=message_ids)
        return Response({"results": [{"message_id": m, "emoji": e} for m, e in rows]})
