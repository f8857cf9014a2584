"""The content security policy's middleware: django-csp's, with the WebSocket origin of
Centrifugo taken from settings on each response (tests and deployments move its port).

Almost every answer carries the same policy: no nonce was asked for and the view changed
nothing. django-csp builds that header again for each one (0.06 ms of a 2.4 ms message
POST, docs/performance.md), so it is built once per Centrifugo origin and kept until a
setting changes; any other answer goes through django-csp as before."""

from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase

# What a view may set on its answer (django-csp's decorators, or an exemption) to get a
# policy of its own.
_PER_RESPONSE = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_exempt",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
    "_csp_exempt_ro",
)
_REPORT_ONLY_SETTING = "CONTENT_SECURITY_POLICY_REPORT_ONLY"
# websocket_origin() -> the headers django-csp sets on an answer that changed nothing.
_default_headers: dict[str, dict[str, str]] = {}


@receiver(setting_changed)
def _forget_default_headers(**kwargs: Any) -> None:
    _default_headers.clear()


def websocket_origin() -> str:
    """`ws://host:port` of CENTRIFUGO_WS_URL: CSP's 'self' covers only the page's own port."""
    return "/".join(settings.CENTRIFUGO_WS_URL.split("/")[:3])


def _answers_with_the_default(request: HttpRequest, response: HttpResponseBase) -> bool:
    if settings.DEBUG or getattr(request, "_csp_nonce", None) is not None or HEADER in response:
        return False
    if any(hasattr(response, name) for name in _PER_RESPONSE):
        return False
    policies = (getattr(settings, name, None) or {} for name in ("CONTENT_SECURITY_POLICY", _REPORT_ONLY_SETTING))
    return not any(policy.get("EXCLUDE_URL_PREFIXES") for policy in policies)  # those depend on the path


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), websocket_origin()]
        parts.update = update
        return parts

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if not _answers_with_the_default(request, response):
            return super().process_response(request, response)
        origin = websocket_origin()
        headers = _default_headers.get(origin)
        if headers is None:
            probe = super().process_response(request, HttpResponse())
            headers = {name: probe[name] for name in (HEADER, HEADER_REPORT_ONLY) if name in probe}
            _default_headers[origin] = headers
        for name, value in headers.items():
            if name not in response:
                response[name] = value
        # As django-csp does: a nonce asked for after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
