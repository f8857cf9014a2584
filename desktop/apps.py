from django.apps import AppConfig


class DesktopConfig(AppConfig):
    name = "desktop"
    verbose_name = "Desktop notifications"
