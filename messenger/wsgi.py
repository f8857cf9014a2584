import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings.local")
application = get_wsgi_application()


def _warm_up() -> None:
    """Imports what the first request would (the URLconf and, through it, every view and
    its libraries): done once as the worker starts, not by the first requests of each
    process, where it held a thread for a few hundred milliseconds.

    Then what start-up made (about 130,000 objects: modules, classes, settings, URL
    patterns) is frozen: it lives as long as the process, and CPython's older-generation
    collections, which would walk all of it every few dozen requests, skip it
    (docs/performance.md, "The worker's start-up frozen")."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the property imports the URLconf
    gc.collect()
    gc.freeze()


_warm_up()
