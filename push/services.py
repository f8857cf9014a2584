"""Web Push: subscriptions per device, and the decision to push a message.

A message pushes to the members it mentions and, in a direct chat, to the other member:
only those with a subscription and with no open connection. "Open connection" is
Centrifugo's presence in the user's personal channel `personal:#<id>`, which every page
(WebSocket transport) subscribes to; a page on SSE or long polling is not seen there and
gets the push too, and the service worker then shows nothing while a page of the site is
focused (sw.js). Sent by a Celery task after the message commits; never from a request.
"""

import ipaddress
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from accounts.models import User
from chats.models import Message
from core.exceptions import ApplicationError

from .models import PushSubscription

logger = logging.getLogger(__name__)


def _endpoint_check(endpoint: str) -> None:
    """The worker POSTs to this URL: https, and not an address of ours or a private network
    (PUSH_ALLOW_INSECURE_ENDPOINTS lifts both, for the tests' local receiver)."""
    parts = urlsplit(endpoint)
    if settings.PUSH_ALLOW_INSECURE_ENDPOINTS:
        if parts.scheme in ("http", "https") and parts.hostname:
            return
    elif parts.scheme == "https" and parts.hostname:
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            if parts.hostname != "localhost" and not parts.hostname.endswith(".localhost"):
                return
        else:
            if address.is_global:
                return
    raise ApplicationError(
        "A push endpoint is an https URL of a push service.", extra={"fields": {"endpoint": ["Invalid endpoint."]}}
    )


@transaction.atomic
def push_subscription_save(
    *, user: User, endpoint: str, p256dh: str, auth: str, user_agent: str = ""
) -> PushSubscription:
    """Stores (or refreshes) this device's subscription for `user`. An endpoint belongs to
    one browser profile: when another user signs in there, it moves to them."""
    _endpoint_check(endpoint)
    subscription, _ = PushSubscription.objects.update_or_create(
        endpoint=endpoint, defaults={"user": user, "p256dh": p256dh, "auth": auth, "user_agent": user_agent[:300]}
    )
    # A bounded number per user: the oldest go first.
    stale = PushSubscription.objects.filter(user=user).order_by("-created_at", "-id")[
        settings.PUSH_SUBSCRIPTIONS_PER_USER_MAX :
    ]
    PushSubscription.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
    return subscription


def push_subscription_delete(*, user: User, endpoint: str) -> int:
    deleted, _ = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return deleted


def message_push_later(*, message: Message) -> None:
    """Sends `push.message_push` once the message commits (or at once outside a transaction).
    The task decides who, if anyone, gets a push: the request path pays one task publish."""
    if not settings.PUSH_SEND or not settings.PUSH_VAPID_PRIVATE_KEY:
        return
    from .tasks import message_push

    message_id = message.pk
    transaction.on_commit(lambda: message_push.delay(message_id))
