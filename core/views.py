"""Django's own error views (handler400/403/404/500, CSRF_FAILURE_VIEW) in the API's error
body: under /api/ and to clients asking for JSON; pages keep Django's own, except the 500,
which is JSON everywhere (and 503 + Retry-After when the database is out of reach)."""

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from .exceptions import SERVER_ERROR, database_unavailable, database_unavailable_response, error_response
from .net import wants_json


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if wants_json(request):
        return error_response("Not found.", status=404)
    return defaults.page_not_found(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if wants_json(request):
        return error_response("You do not have permission to perform this action.", status=403)
    return defaults.permission_denied(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if wants_json(request):
        return error_response("Bad request.", status=400)
    return defaults.bad_request(request, exception)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if wants_json(request):
        return error_response(f"CSRF check failed: {reason}", status=403)
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason)


def server_error(request: HttpRequest) -> JsonResponse:
    """handler500: the API's error body instead of Django's HTML page, and 503 + Retry-After
    when the cause is a database out of reach. Django calls it while handling the exception,
    so sys.exc_info() holds it."""
    if database_unavailable(sys.exc_info()[1]):
        return database_unavailable_response()
    return error_response(SERVER_ERROR, status=500)
