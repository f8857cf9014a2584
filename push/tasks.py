"""Web Push for mentions and direct messages (default queue)."""

from collections import Counter

from celery import shared_task

from chats.models import Message


@shared_task(name="push.message_push", soft_time_limit=30, time_limit=45)
def message_push(message_id: int) -> dict[str, int]:
    """Pushes a new message to the members it concerns who have no open connection; returns
    how many pushes had each outcome."""
    from .delivery import push_send
    from .selectors import push_recipient_ids, push_subscriptions_of, user_connected

    message = Message.objects.select_related("chat", "author").filter(pk=message_id).first()
    if message is None or message.deleted_at is not None:
        return {}
    recipients = push_recipient_ids(message=message)
    subscriptions = push_subscriptions_of(user_ids=recipients)
    if not subscriptions:
        return {}
    offline = {user_id for user_id in {s.user_id for s in subscriptions} if not user_connected(user_id=user_id)}
    author = message.author.username if message.author else "Someone"
    chat = message.chat
    title = author if chat.kind == chat.Kind.DIRECT else f"{author} in {chat.title or 'a chat'}"
    payload = {
        "title": title,
        "body": message.text[:200],
        "url": f"/chats/{chat.pk}/",
        "tag": f"chat-{chat.pk}",
        "chat_id": chat.pk,
        "message_id": message.pk,
    }
    outcomes = Counter(push_send(subscription=s, payload=payload) for s in subscriptions if s.user_id in offline)
    return dict(outcomes)
