"""Web Push subscriptions of the caller's devices, the VAPID public key, and the service worker."""

from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .models import PushSubscription
from .serializers import (
    PushConfigSerializer,
    PushSubscriptionDeleteInputSerializer,
    PushSubscriptionInputSerializer,
    PushSubscriptionSerializer,
)


class PushConfigApi(APIView):
    @extend_schema(responses={200: PushConfigSerializer})
    def get(self, request: Request) -> Response:
        key = settings.PUSH_VAPID_PUBLIC_KEY
        return Response({"enabled": bool(key and settings.PUSH_VAPID_PRIVATE_KEY), "public_key": key})


class PushSubscriptionListApi(APIView):
    @extend_schema(responses={200: PushSubscriptionSerializer(many=True)})
    def get(self, request: Request) -> Response:
        subscriptions = PushSubscription.objects.filter(user=request.user).order_by("id")
        return Response(PushSubscriptionSerializer(subscriptions, many=True).data)

    @extend_schema(request=PushSubscriptionInputSerializer, responses={201: PushSubscriptionSerializer})
    def post(self, request: Request) -> Response:
        serializer = PushSubscriptionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subscription = services.push_subscription_save(
            user=request.user,
            endpoint=data["endpoint"],
            p256dh=data["keys"]["p256dh"],
            auth=data["keys"]["auth"],
            user_agent=request.headers.get("User-Agent", ""),
        )
        return Response(PushSubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PushSubscriptionDeleteInputSerializer, responses={204: None})
    def delete(self, request: Request) -> Response:
        serializer = PushSubscriptionDeleteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.push_subscription_delete(user=request.user, endpoint=serializer.validated_data["endpoint"])
        return Response(status=status.HTTP_204_NO_CONTENT)


SERVICE_WORKER = Path(__file__).resolve().parents[1] / "web" / "static" / "web" / "sw.js"


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, from the site's root: its scope is the whole site. Never cached
    long, so a new version reaches browsers on their next visit."""
    response = HttpResponse(SERVICE_WORKER.read_bytes(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response
