import sys

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import database_unavailable, database_unavailable_response


class HealthApi(APIView):
    """The process answers. Touches nothing else, so a load balancer can call it often."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None  # operational endpoint, not part of the API

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadinessApi(APIView):
    """PostgreSQL and Redis are reachable: 200 when both are, 503 naming what is not."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None  # operational endpoint, not part of the API

    def get(self, request: Request) -> Response:
        checks = {"postgresql": _check_postgresql(), "redis": _check_redis()}
        ready = all(value == "ok" for value in checks.values())
        return Response(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status=200 if ready else 503,
        )


def _check_postgresql() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("select 1")
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return f"error: {exc.__class__.__name__}"


def _check_redis() -> str:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return f"error: {exc.__class__.__name__}"


def server_error(request: HttpRequest) -> JsonResponse:
    """handler500: the API's error body instead of Django's HTML page, and 503 + Retry-After
    when the cause is a database out of reach. Django calls it while handling the exception,
    so sys.exc_info() holds it."""
    if database_unavailable(sys.exc_info()[1]):
        return database_unavailable_response()
    return JsonResponse({"message": "Server error.", "extra": {}}, status=500)


def bad_request(request: HttpRequest, exception: Exception) -> JsonResponse:
    """handler400 (a Host header not in ALLOWED_HOSTS, a malformed request)."""
    return JsonResponse({"message": "Bad request.", "extra": {}}, status=400)


def permission_denied(request: HttpRequest, exception: Exception) -> JsonResponse:
    """handler403 (a view outside DRF refusing, e.g. a CSRF failure has its own view)."""
    return JsonResponse({"message": "You do not have permission to perform this action.", "extra": {}}, status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    """handler404: an unknown path, or a page's Http404."""
    return JsonResponse({"message": "Not found.", "extra": {}}, status=404)


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    """CSRF_FAILURE_VIEW: a refused form or session POST, in the API's shape."""
    return JsonResponse({"message": f"CSRF verification failed: {reason}".strip(), "extra": {}}, status=403)
