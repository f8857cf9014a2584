"""ASGI entry point, served by uvicorn."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings.local")
django_application = get_asgi_application()

# Feed requests (long polling, SSE) are answered before Django's handler (edge.feed_front).
from edge.feed_front import feed_front  # noqa: E402 (needs Django set up)

application = feed_front(django_application)
