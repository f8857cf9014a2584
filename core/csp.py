"""The content security policy's middleware: django-csp's, with the WebSocket origin of
Centrifugo taken from settings on each response (tests and deployments move its port)."""

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


def websocket_origin() -> str:
    """`ws://host:port` of CENTRIFUGO_WS_URL: CSP's 'self' covers only the page's own port."""
    return "/".join(settings.CENTRIFUGO_WS_URL.split("/")[:3])


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), websocket_origin()]
        parts.update = update
        return parts
