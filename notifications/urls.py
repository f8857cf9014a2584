from django.urls import path

from .digest import apis as digest_apis

app_name = "notifications"

# Under /api/.
api_urlpatterns = [
    path("notifications/settings/", digest_apis.NotificationSettingsApi.as_view(), name="notification-settings"),
]
# Pages.
urlpatterns = [
    path("notifications/unsubscribe/<str:token>/", digest_apis.digest_unsubscribe_page, name="digest-unsubscribe"),
]
