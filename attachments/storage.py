"""The attachments' storage: Django's storage API, alias "attachments" (settings/media.py)."""

from django.core.files.storage import Storage, storages


def attachments_storage() -> Storage:
    """A callable, so that migrations do not depend on the deployment's storage."""
    return storages["attachments"]
