"""Django's 404/403/400 and CSRF views, answered in the API's error body under /api/ (and
to clients asking for JSON); pages keep Django's own. handler500 is core.apis.server_error."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from .net import wants_json


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"message": message, "extra": {}}, status=status)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if wants_json(request):
        return _error("Not found.", 404)
    return defaults.page_not_found(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if wants_json(request):
        return _error("You do not have permission to perform this action.", 403)
    return defaults.permission_denied(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if wants_json(request):
        return _error("Bad request.", 400)
    return defaults.bad_request(request, exception)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if wants_json(request):
        return _error(f"CSRF check failed: {reason}", 403)
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason)
