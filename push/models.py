from django.conf import settings
from django.db import models


class PushSubscription(models.Model):
    """One browser's Web Push subscription (one per device and profile): where the push
    service takes pushes for it (`endpoint`) and the keys that encrypt them (RFC 8291)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=2048, unique=True)
    p256dh = models.CharField(max_length=200)  # the browser's ECDH public key, base64url
    auth = models.CharField(max_length=100)  # the shared authentication secret, base64url
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"push subscription #{self.pk} of user #{self.user_id}"
