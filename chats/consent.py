"""Consent to chat membership: who may put a user in a chat (their `chat_add_policy`), and
who may be given a role above member. Called by chats.services with the chat lock held.

The roles rule: a role above member goes only to someone who has been a member of the chat
for CHAT_ADMIN_MIN_TENURE_SECONDS. A stranger pulled into a chat cannot be made its admin at
once, which is what made them a target of the member-added emails; someone who stayed in
the chat that long has had the time to leave it.
"""

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from core.exceptions import PermissionDeniedError

from .models import Membership

Policy = User.ChatAddPolicy


def _share_a_chat(adder: User, user_ids: set[int]) -> set[int]:
    """Those of `user_ids` who are in at least one chat with `adder`."""
    chats = Membership.objects.filter(user_id=adder.pk).values("chat_id")
    return set(
        Membership.objects.filter(chat_id__in=chats, user_id__in=user_ids).values_list("user_id", flat=True).distinct()
    )


def add_consent_require(*, adder: User | None, users: Iterable[User]) -> None:
    """Refuses (403) when one of `users` does not let `adder` put them in a chat. `adder=None`
    is a trusted system path (Django admin, shell) and passes."""
    if adder is None:
        return
    users = [user for user in users if user.pk != adder.pk]
    refused = [user for user in users if user.chat_add_policy == Policy.NOBODY]
    shared_only = {user.pk for user in users if user.chat_add_policy == Policy.SHARED}
    if shared_only:
        allowed = _share_a_chat(adder, shared_only)
        refused += [user for user in users if user.pk in shared_only - allowed]
    if refused:
        raise PermissionDeniedError(
            "These users do not accept being added to chats by you.",
            extra={"fields": {"user_id": [f"User {user.pk} does not accept this." for user in refused]}},
        )


def role_consent_require(*, membership: Membership | None, role: str, actor: User | None) -> None:
    """Refuses (403) a role above member for someone who is not yet a member (adding them as
    an admin) or joined the chat less than CHAT_ADMIN_MIN_TENURE_SECONDS ago. A system path
    (`actor=None`) passes."""
    tenure = timedelta(seconds=settings.CHAT_ADMIN_MIN_TENURE_SECONDS)
    if actor is None or role == Membership.Role.MEMBER or not tenure:
        return
    if membership is None or membership.joined_at > timezone.now() - tenure:
        raise PermissionDeniedError(
            "A member becomes an admin only after being in the chat for a while.",
            extra={"min_tenure_seconds": settings.CHAT_ADMIN_MIN_TENURE_SECONDS},
        )
