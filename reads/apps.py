from django.apps import AppConfig


class ReadsConfig(AppConfig):
    name = "reads"
    verbose_name = "Read state"

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the membership receiver
