"""The HTTP edge of real-time delivery."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chats.selectors import membership_get

from .serializers import ConnectionTokenSerializer, SubscriptionTokenQuerySerializer, SubscriptionTokenSerializer
from .services import personal_channel
from .tokens import centrifugo_ws_url, connection_token_issue, subscription_token_issue


class ConnectionTokenApi(APIView):
    """A Centrifugo connection token for the signed-in user (session or API token)."""

    @extend_schema(responses={200: ConnectionTokenSerializer})
    def get(self, request: Request) -> Response:
        token = connection_token_issue(user=request.user)
        data = token | {"ws_url": centrifugo_ws_url(request), "channel": personal_channel(request.user.pk)}
        response = Response(ConnectionTokenSerializer(data).data)
        response["Cache-Control"] = "no-store"
        return response


class SubscriptionTokenApi(APIView):
    """A subscription token for one chat's channel, for a member of that chat (404 otherwise)."""

    @extend_schema(parameters=[SubscriptionTokenQuerySerializer], responses={200: SubscriptionTokenSerializer})
    def get(self, request: Request) -> Response:
        query = SubscriptionTokenQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        channel = query.validated_data["channel"]
        membership_get(chat_id=int(channel.split(":", 1)[1]), user=request.user)
        token = subscription_token_issue(user=request.user, channel=channel)
        response = Response(SubscriptionTokenSerializer(token).data)
        response["Cache-Control"] = "no-store"
        return response
