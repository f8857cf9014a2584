from django.db.models import QuerySet

from accounts.models import User
from chats.models import Membership
from core.exceptions import NotFoundError

from .models import Attachment


def attachment_get_for_member(*, attachment_id: int, user: User) -> Attachment:
    """The attachment, if `user` is a member of its chat now; otherwise not found."""
    attachment = Attachment.objects.filter(
        pk=attachment_id, chat__memberships__user=user, message__deleted_at__isnull=True
    ).first()
    if attachment is None:
        raise NotFoundError("Attachment not found.")
    return attachment


def attachment_list(*, chat_id: int, user: User, message_ids: list[int]) -> QuerySet[Attachment]:
    """The attachments of the given messages of a chat the user is a member of."""
    if not Membership.objects.filter(chat_id=chat_id, user=user).exists():
        raise NotFoundError("Chat not found.")
    return Attachment.objects.filter(chat_id=chat_id, message_id__in=message_ids).order_by("id")
