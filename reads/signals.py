"""A new member starts with the chat read up to its newest message: joining a chat with a
long history does not show that history as unread (and does not email it in a digest)."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from chats.models import Membership

from .services import read_marker_create


@receiver(post_save, sender=Membership, dispatch_uid="reads.membership_created")
def _membership_created(sender, instance: Membership, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        read_marker_create(membership=instance)
