from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # The token scheme for drf-spectacular; the sign-in hooks that record sessions and the
        # receivers that end cached tokens.
        from . import openapi, receivers  # noqa: F401
