from django.apps import AppConfig


class EdgeConfig(AppConfig):
    name = "edge"
    verbose_name = "Real-time edge"

    def ready(self) -> None:
        from core.metrics import state_collector_register

        from .metrics import StateCollector

        state_collector_register(StateCollector())
