from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.apis import HealthApi, ReadinessApi
from core.metrics import metrics_view
from notifications import urls as notifications_urls

api_patterns = [
    path("", include("accounts.urls")),
    path("", include("chats.urls")),
    path("", include("reports.urls")),
    path("", include("edge.urls")),
    path("", include("reads.urls")),
    path("", include("search.urls")),
    path("", include("presence.urls")),
    path("", include("attachments.urls")),
    path("", include("push.urls")),
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
    # Prometheus, on the servers' own ports only: 404 through nginx (core.metrics).
    path("metrics", metrics_view, name="metrics"),
    path("", include("notifications.urls")),
    path("", include("push.urls_root")),
    path("", include("web.urls")),
]

# An unknown API path, a refusal or a bad request: JSON under /api/, Django's pages elsewhere;
# every unhandled error the API's JSON body, and an unreachable database 503 (core.views).
handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
