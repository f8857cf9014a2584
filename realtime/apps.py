from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time events"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 (connects the revocation receivers)
