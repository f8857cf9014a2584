from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # The token scheme for drf-spectacular; the sign-in hooks that record sessions and the
        # receivers that end cached tokens; the gauge of revocations Redis missed.
        from core.metrics import state_collector_register

        from . import openapi, receivers  # noqa: F401
        from .metrics import RevocationCollector

        state_collector_register(RevocationCollector())
