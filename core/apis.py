import redis
from django.conf import settings
from django.db import connection
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


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
