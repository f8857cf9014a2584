"""The HTTP edge of real-time delivery."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .serializers import ConnectionTokenSerializer
from .services import personal_channel
from .tokens import centrifugo_ws_url, connection_token_issue


class ConnectionTokenApi(APIView):
    """A Centrifugo connection token for the signed-in user (session or API token)."""

    @extend_schema(responses={200: ConnectionTokenSerializer})
    def get(self, request: Request) -> Response:
        token = connection_token_issue(user=request.user)
        data = token | {"ws_url": centrifugo_ws_url(request), "channel": personal_channel(request.user.pk)}
        response = Response(ConnectionTokenSerializer(data).data)
        response["Cache-Control"] = "no-store"
        return response
