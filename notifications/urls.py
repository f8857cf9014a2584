from django.urls import path

from . import apis
from .digest import apis as digest_apis

app_name = "notifications"

# Under /api/.
api_urlpatterns = [
    path("notifications/settings/", digest_apis.NotificationSettingsApi.as_view(), name="notification-settings"),
    path("me/email/", apis.EmailStateApi.as_view(), name="email-state"),
    path("me/email/verification/", apis.VerificationEmailApi.as_view(), name="email-verification"),
    path("me/chat-add-policy/", apis.ChatAddPolicyApi.as_view(), name="chat-add-policy"),
]
# Pages.
urlpatterns = [
    path("notifications/unsubscribe/<str:token>/", digest_apis.digest_unsubscribe_page, name="digest-unsubscribe"),
    path("verify-email/<str:token>/", apis.email_verify_page, name="email-verify"),
]
