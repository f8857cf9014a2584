"""One encrypted push (RFC 8291 aes128gcm, VAPID RFC 8292) to one subscription, by pywebpush."""

import json
import logging
from typing import Any, Literal

import requests
from django.conf import settings
from django.utils import timezone
from pywebpush import WebPushException, webpush

from .models import PushSubscription

logger = logging.getLogger(__name__)

Outcome = Literal["sent", "gone", "failed"]


def push_send(*, subscription: PushSubscription, payload: dict[str, Any]) -> Outcome:
    """Sends one push. A 404 or 410 from the push service means the subscription expired or
    was revoked: it is deleted. Anything else failing is logged, not retried (a retry after
    an unclear answer could show the notification twice)."""
    try:
        webpush(
            subscription_info={
                "endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
            },
            data=json.dumps(payload, separators=(",", ":")),
            vapid_private_key=settings.PUSH_VAPID_PRIVATE_KEY,
            vapid_claims={"sub": settings.PUSH_VAPID_SUBJECT},  # a fresh dict: pywebpush fills it in
            ttl=settings.PUSH_TTL_SECONDS,
            timeout=settings.PUSH_TIMEOUT_SECONDS,
        )
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (404, 410):
            PushSubscription.objects.filter(pk=subscription.pk).delete()
            logger.info("push: subscription %s is gone (%s): deleted", subscription.pk, status)
            return "gone"
        logger.warning("push to subscription %s failed: %s", subscription.pk, status or exc)
        return "failed"
    except (requests.RequestException, ValueError, TypeError) as exc:
        logger.warning("push to subscription %s failed: %r", subscription.pk, exc)
        return "failed"
    PushSubscription.objects.filter(pk=subscription.pk).update(last_sent_at=timezone.now())
    return "sent"
