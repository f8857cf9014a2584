import logging

from django.conf import settings

from chats.models import Chat, Membership, Message
from reads.mentions import mentions_for
from realtime.services import personal_channel

from .models import PushSubscription

logger = logging.getLogger(__name__)


def push_recipient_ids(*, message: Message) -> list[int]:
    """Who a message should reach by push: the members it mentions and, in a direct chat,
    the other member; never its author."""
    ids = set(mentions_for(message.text, message.chat_id))
    if message.chat.kind == Chat.Kind.DIRECT:
        ids |= set(Membership.objects.filter(chat_id=message.chat_id).values_list("user_id", flat=True))
    ids.discard(message.author_id)
    return sorted(ids)


def user_connected(*, user_id: int) -> bool:
    """Whether the user has a page open now: Centrifugo's presence in their personal
    channel (a WebSocket page subscribes to it). Centrifugo out of reach: not connected
    (a push too many beats a missed one; the service worker hides it from a focused page)."""
    import cent

    client = cent.Client(settings.CENTRIFUGO_API_URL, api_key=settings.CENTRIFUGO_HTTP_API_KEY, timeout=1)
    try:
        result = client.presence(cent.PresenceRequest(channel=personal_channel(user_id)))
    except cent.CentError as exc:
        logger.warning("push: presence of user %s unknown: %r", user_id, exc)
        return False
    return bool(result.presence)


def push_subscriptions_of(*, user_ids: list[int]) -> list[PushSubscription]:
    return list(PushSubscription.objects.filter(user_id__in=user_ids).order_by("id"))
