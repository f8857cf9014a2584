"""Reads of accounts for other apps and the HTTP edge."""

from .models import User


def user_active_find(*, username: str) -> User | None:
    """The active user with this username, whatever its case; None when there is none."""
    if not username:
        return None
    return User.objects.filter(username__iexact=username, is_active=True).first()
