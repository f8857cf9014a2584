"""One error type for services and one handler that gives every API error the same shape:

{"message": "...", "extra": {"fields": {"text": ["..."]}}}

A database that cannot be reached (down, restarting, every pooled connection busy for
DB_POOL_TIMEOUT) is a 503 with Retry-After in that shape, from DRF views here and from any
other view through `core.apis.server_error` (handler500), never Django's HTML 500 page.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler

from core.breaker import breaker, database_unreachable


class ApplicationError(Exception):
    """Raised by services and selectors; the API turns it into a 4xx answer."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFoundError(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND


class PermissionDeniedError(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN


class ConflictError(ApplicationError):
    status_code = status.HTTP_409_CONFLICT


logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "The database is unavailable or overloaded: retry in a moment."


def database_unavailable(exc: BaseException | None) -> bool:
    """Connection refused or timed out, pool exhausted, server shutting down, a statement
    cancelled by statement_timeout: the request may succeed if retried shortly."""
    return isinstance(exc, OperationalError | InterfaceError)


def database_unavailable_response() -> JsonResponse:
    response = JsonResponse({"message": DATABASE_UNAVAILABLE, "extra": {}}, status=503)
    response["Retry-After"] = str(settings.OVERLOAD_RETRY_AFTER_SECONDS)
    return response


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if database_unavailable(exc):
        if database_unreachable(exc):
            breaker.failed()
        logger.warning("database unavailable: %s", exc)
        return Response(
            {"message": DATABASE_UNAVAILABLE, "extra": {}},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(settings.OVERLOAD_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "extra": exc.extra}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        response.data = {"message": "Invalid input.", "extra": {"fields": detail}}
    else:
        response.data = {"message": str(exc.detail), "extra": {}}
    return response
