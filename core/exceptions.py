"""One error type for services and one handler that gives every API error the same shape:

{"message": "...", "extra": {"fields": {"text": ["..."]}}}

A database that cannot be reached (down, restarting, every pooled connection busy for
DB_POOL_TIMEOUT) is a 503 with Retry-After in that shape, from DRF views here and from any
other view through `core.views.server_error` (handler500), never Django's HTML 500 page.
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
from rest_framework.views import exception_handler, set_rollback

from core.breaker import breaker, database_unreachable

logger = logging.getLogger("django.request")


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


class TooManyRequestsError(ApplicationError):
    """429; `retry_after` seconds go out as the Retry-After header."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, message: str, *, retry_after: int, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=extra)
        self.retry_after = retry_after


def error_body(message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body of every error the site answers (the API, Django's own handlers, nginx's
    error pages write the same by hand)."""
    return {"message": message, "extra": extra or {}}


def error_response(
    message: str, *, status: int, extra: dict[str, Any] | None = None, retry_after: float | None = None
) -> JsonResponse:
    """An error answered outside DRF (middleware, handlers, async views) in the API's shape."""
    response = JsonResponse(error_body(message, extra), status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


SERVER_ERROR = "Server error."


logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "The database is unavailable or overloaded: retry in a moment."
OVERLOADED = "The server is busy or restarting: retry in a moment."


def database_unavailable(exc: BaseException | None) -> bool:
    """Connection refused or timed out, pool exhausted, server shutting down, a statement
    cancelled by statement_timeout: the request may succeed if retried shortly."""
    return isinstance(exc, OperationalError | InterfaceError)


def database_unavailable_response() -> JsonResponse:
    return error_response(DATABASE_UNAVAILABLE, status=503, retry_after=settings.OVERLOAD_RETRY_AFTER_SECONDS)


def overloaded_response() -> JsonResponse:
    """The same answer as nginx's when it refuses a request past its in-flight limit."""
    response = error_response(OVERLOADED, status=503, retry_after=settings.OVERLOAD_RETRY_AFTER_SECONDS)
    # Not one ERROR line per refusal (thousands a second when it matters): nginx's access
    # log has them. Django skips a response marked as already logged.
    response._has_been_logged = True
    return response


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if database_unavailable(exc):
        if database_unreachable(exc):
            breaker.failed()
        logger.warning("database unavailable: %s", exc)
        return Response(
            error_body(DATABASE_UNAVAILABLE),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(settings.OVERLOAD_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, ApplicationError):
        response = Response(error_body(exc.message, exc.extra), status=exc.status_code)
        if isinstance(exc, TooManyRequestsError):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        # A bug or an unreachable dependency: logged with its traceback, answered in the
        # API's error shape instead of Django's HTML page.
        request = context.get("request")
        logger.error("Internal Server Error: %s", getattr(request, "path", "?"), exc_info=exc)
        set_rollback()
        return Response(error_body(SERVER_ERROR), status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if isinstance(exc, exceptions.ValidationError):
        detail = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        response.data = error_body("Invalid input.", {"fields": detail})
    else:
        response.data = error_body(str(exc.detail))
    return response
