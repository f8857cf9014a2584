from django.apps import AppConfig


class AttachmentsConfig(AppConfig):
    name = "attachments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from PIL import Image

        # Every process (web, worker) refuses to decode more pixels than we accept.
        Image.MAX_IMAGE_PIXELS = settings.ATTACHMENTS_IMAGE_MAX_PIXELS

        from . import signals  # noqa: F401
