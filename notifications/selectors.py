from accounts.models import User
from chats.models import Membership


def member_added_recipient_ids(*, membership: Membership, added_by: User | None) -> list[int]:
    """The chat's owners and admins to tell of a new member: not the one who added them (they
    know), not the new member themself (when added as an admin), and only those whose address
    is verified (nothing but the verification email goes to an unconfirmed one)."""
    excluded = {membership.user_id} | ({added_by.pk} if added_by is not None else set())
    return list(
        Membership.objects.filter(
            chat_id=membership.chat_id,
            role__in=(Membership.Role.OWNER, Membership.Role.ADMIN),
            user__is_active=True,
            user__email_verified_at__isnull=False,
        )
        .exclude(user_id__in=excluded)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )
