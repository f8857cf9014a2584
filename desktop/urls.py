from django.urls import path

from . import apis

urlpatterns = [
    path("notifications/desktop/", apis.DesktopSettingsApi.as_view(), name="desktop-settings"),
]
