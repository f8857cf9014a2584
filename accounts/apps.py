from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from . import (
            openapi,  # noqa: F401 - registers the token scheme with drf-spectacular
            signals,  # noqa: F401 - cached tokens end when their rows change
        )
