"""Who is asking: the client's address behind the project's proxies, and the answer to a
client that is locked out. Shared by the throttles and django-axes so both count the same
client."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from .exceptions import error_response


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or the address TRUSTED_PROXY_COUNT hops back in X-Forwarded-For.

    Only the entries our own proxies appended are believed: counting from the right, so a
    client that sends its own X-Forwarded-For cannot choose the address it is counted as.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < hops:
        return remote
    return forwarded[-hops][:64]


def wants_json(request: HttpRequest) -> bool:
    """API paths and clients that ask for JSON get the JSON error body; pages get HTML."""
    accept = request.META.get("HTTP_ACCEPT", "")
    return request.path.startswith("/api/") or ("application/json" in accept and "text/html" not in accept)


def lockout_response(request: HttpRequest, response: HttpResponse | None = None, credentials: dict | None = None):
    """django-axes' answer to a locked-out username and address: 429 with Retry-After."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    return too_many_requests_response(
        request, f"Too many failed sign-ins. Try again in {max(1, seconds // 60)} minutes.", retry_after=seconds
    )


def too_many_requests_response(request: HttpRequest, message: str, *, retry_after: int) -> HttpResponse:
    """429 with Retry-After: the API's error body, or a short page for a browser form."""
    if wants_json(request):
        return error_response(message, status=429, retry_after=retry_after)
    answer = HttpResponse(render_to_string("core/error.html", {"message": message}, request), status=429)
    answer["Retry-After"] = str(retry_after)
    return answer
