from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.apis import HealthApi, ReadinessApi
from notifications import urls as notifications_urls

api_patterns = [
    path("", include("accounts.urls")),
    path("", include("chats.urls")),
    path("", include("reports.urls")),
    path("", include("realtime.urls")),
    path("", include("reads.urls")),
    path("", include("search.urls")),
    path("", include("presence.urls")),
    path("", include("reactions.urls")),
    path("", include("desktop.urls")),
    path("", include(notifications_urls.api_urlpatterns)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI from drf-spectacular-sidecar's static files; its start-up script is a file
    # too (the split view), so the policy needs no inline script. Swagger UI's React code
    # injects <style> elements: inline styles are allowed on this page only.
    path(
        "docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="docs",
    ),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("healthz", HealthApi.as_view(), name="healthz"),
    path("readyz", ReadinessApi.as_view(), name="readyz"),
    path("", include("notifications.urls")),
    path("", include("web.urls")),
]

# Every error Django answers itself (a bad Host header, an unknown path, a CSRF refusal) and
# every unhandled one has the API's JSON body; an unreachable database answers 503.
handler400 = "core.apis.bad_request"
handler403 = "core.apis.permission_denied"
handler404 = "core.apis.page_not_found"
handler500 = "core.apis.server_error"
# An unknown API path, a refusal or a bad request: JSON under /api/, Django's pages elsewhere.
handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.not_found"
