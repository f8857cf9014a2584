from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"
    verbose_name = "Chats"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 (connects the user-deletion receiver)
