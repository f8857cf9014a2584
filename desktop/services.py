from accounts.models import User

from .models import DesktopNotificationSettings


def desktop_settings_get(*, user: User) -> DesktopNotificationSettings:
    """The user's choice; on when they never chose (the browser still asks its permission)."""
    return DesktopNotificationSettings.objects.filter(user=user).first() or DesktopNotificationSettings(user=user)


def desktop_settings_update(*, user: User, enabled: bool) -> DesktopNotificationSettings:
    preference, _ = DesktopNotificationSettings.objects.update_or_create(user=user, defaults={"enabled": enabled})
    return preference
