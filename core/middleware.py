from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class BodySizeLimitMiddleware:
    """Refuses oversized bodies with 413 before any parser reads them.

    Django caps only `request.body`; DRF streams the body to its parser, so the cap is here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"message": "Invalid Content-Length.", "extra": {}}, status=400)
        if length > settings.MAX_REQUEST_BODY_BYTES:
            return JsonResponse(
                {
                    "message": f"Request body too large (limit {settings.MAX_REQUEST_BODY_BYTES} bytes).",
                    "extra": {},
                },
                status=413,
            )
        return self.get_response(request)
