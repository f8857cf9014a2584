"""Whether the page shows desktop notifications (the browser's Notification API) for a
mention or a direct message while its tab is hidden. The browser's own permission is asked
once by the page; this is the user's choice on top of it, the same on every device."""

from django.conf import settings
from django.db import models


class DesktopNotificationSettings(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"Desktop notifications of user #{self.user_id}: {'on' if self.enabled else 'off'}"
