from dataclasses import asdict

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.throttling import SearchAddressThrottle, SearchThrottle

from .selectors import message_search
from .serializers import SearchInputSerializer, SearchPageSerializer


class MessageSearchApi(APIView):
    throttle_classes = [SearchThrottle, SearchAddressThrottle]

    @extend_schema(
        parameters=[SearchInputSerializer],
        responses={200: SearchPageSerializer, 429: OpenApiResponse(description="Too many requests; see Retry-After.")},
    )
    def get(self, request: Request) -> Response:
        """Messages of the caller's chats that match `q`, best first."""
        params = SearchInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        hits, next_cursor = message_search(user=request.user, **params.validated_data)
        return Response({"results": [asdict(hit) for hit in hits], "next": next_cursor})
