"""The HTTP edge of real-time delivery."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from chats.selectors import membership_get
from core.exceptions import NotFoundError
from realtime.services import personal_channel
from realtime.tokens import centrifugo_ws_url, connection_token_issue, subscription_token_issue

from .serializers import ConnectionTokenSerializer, SubscriptionTokenQuerySerializer, SubscriptionTokenSerializer


class ConnectionTokenApi(APIView):
    """A Centrifugo connection token for the signed-in user (session or API token)."""

    @extend_schema(responses={200: ConnectionTokenSerializer})
    def get(self, request: Request) -> Response:
        token = connection_token_issue(user=request.user)
        data = token | {"ws_url": centrifugo_ws_url(request), "channel": personal_channel(request.user.pk)}
        response = Response(ConnectionTokenSerializer(data).data)
        response["Cache-Control"] = "no-store"
        return response


def subscription_access_check(*, user: User, channel: str) -> None:
    """Raises NotFoundError unless `user` may subscribe to `channel` (a valid channel name).
    Per namespace: a chat's events (`chat:<id>`) and its typing and presence (`typing:<id>`)
    are for its members."""
    namespace, _, chat_id = channel.partition(":")
    if namespace in (settings.CENTRIFUGO_CHAT_NAMESPACE, settings.CENTRIFUGO_TYPING_NAMESPACE):
        membership_get(chat_id=int(chat_id), user=user)
        return
    raise NotFoundError("Channel not found.")


class SubscriptionTokenApi(APIView):
    """A subscription token for one channel of a chat, `chat:<id>` or `typing:<id>`, for a
    member of that chat (404 otherwise)."""

    @extend_schema(parameters=[SubscriptionTokenQuerySerializer], responses={200: SubscriptionTokenSerializer})
    def get(self, request: Request) -> Response:
        query = SubscriptionTokenQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        channel = query.validated_data["channel"]
        subscription_access_check(user=request.user, channel=channel)
        token = subscription_token_issue(user=request.user, channel=channel)
        response = Response(SubscriptionTokenSerializer(token).data)
        response["Cache-Control"] = "no-store"
        return response
