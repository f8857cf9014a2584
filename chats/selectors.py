from django.db.models import QuerySet

from accounts.models import User
from core.exceptions import NotFoundError

from .models import Chat, Membership, Message, MessageEdit


def chat_list(*, user: User) -> QuerySet[Chat]:
    """The chats the user belongs to, newest activity first."""
    return Chat.objects.filter(memberships__user=user).order_by("-last_activity_at", "-id")


def chat_get_for_member(*, chat_id: int, user: User) -> Chat:
    """The chat, for one of its members; any other caller is told it is not found, so its
    existence does not leak."""
    return membership_get(chat_id=chat_id, user=user).chat


def membership_get(*, chat_id: int, user: User) -> Membership:
    """The caller's membership; a chat they are not in is reported as not found, so its
    existence does not leak."""
    try:
        return Membership.objects.select_related("chat").get(chat_id=chat_id, user=user)
    except Membership.DoesNotExist:
        raise NotFoundError("Chat not found.") from None


def membership_list(*, chat: Chat, q: str = "") -> QuerySet[Membership]:
    """The chat's members in the order they joined; `q`: only usernames containing it."""
    members = chat.memberships.select_related("user").order_by("joined_at", "id")
    return members.filter(user__username__icontains=q) if q else members


def member_ids(*, chat: Chat) -> list[int]:
    return list(chat.memberships.values_list("user_id", flat=True))


def member_get(*, chat: Chat, user_id: int) -> Membership:
    try:
        return chat.memberships.select_related("user").get(user_id=user_id)
    except Membership.DoesNotExist:
        raise NotFoundError("Member not found.") from None


def message_get(*, chat: Chat, message_id: int) -> Message:
    try:
        return chat.messages.select_related("author", "reply_to__author").get(pk=message_id)
    except Message.DoesNotExist:
        raise NotFoundError("Message not found.") from None


def message_page(
    *, chat: Chat, before: int | None = None, after: int | None = None, limit: int = 50
) -> tuple[list[Message], bool, bool]:
    """A page of messages, oldest to newest, and whether older and newer ones exist.

    Without a cursor it is the newest page. Pages follow each other by id with no gap and
    no overlap: the next older page is `before=<first id>`, the next newer `after=<last id>`.
    """
    messages = chat.messages.select_related("author", "reply_to__author")
    if after is not None:
        page = list(messages.filter(id__gt=after).order_by("id")[: limit + 1])
        has_newer = len(page) > limit
        page = page[:limit]
        has_older = messages.filter(id__lte=after).exists()
        return page, has_older, has_newer
    messages_before = messages if before is None else messages.filter(id__lt=before)
    page = list(messages_before.order_by("-id")[: limit + 1])
    has_older = len(page) > limit
    page = page[:limit][::-1]
    has_newer = before is not None and messages.filter(id__gte=before).exists()
    return page, has_older, has_newer


def chat_ids_of(*, user_id: int) -> list[int]:
    """The ids of the chats the user is a member of (the feed shows their events)."""
    return list(Membership.objects.filter(user_id=user_id).values_list("chat_id", flat=True))


def message_edit_list(*, message: Message) -> QuerySet[MessageEdit]:
    """The message's earlier versions, oldest first (none once it is deleted)."""
    return message.edits.order_by("id")
