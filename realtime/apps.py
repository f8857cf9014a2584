from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time events"

    def ready(self) -> None:
        from core.metrics import state_collector_register

        from . import receivers  # noqa: F401 (connects the revocation receivers)
        from .metrics import StateCollector

        state_collector_register(StateCollector())
