"""Content negotiation with a short way for what nearly every API client sends.

DRF parses the `Accept` header into media types and matches them against each renderer on
every request (0.05 ms of a 2.4 ms message POST, docs/performance.md). A request with no
`Accept`, `*/*` or the first renderer's own media type, and no `?format=`, gets what DRF
would answer, the first renderer; anything else is negotiated by DRF, 406 included.
"""

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

_ANY = ("*/*", "")


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, Any]:
        meta = request._request.META  # the HttpRequest's: DRF's Request proxies each lookup
        override = self.settings.URL_FORMAT_OVERRIDE
        if renderers and not format_suffix and not (override and f"{override}=" in meta.get("QUERY_STRING", "")):
            first = renderers[0]
            accept = meta.get("HTTP_ACCEPT", "").strip()
            if accept in _ANY or accept == first.media_type:
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
