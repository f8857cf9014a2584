"""The Channels peer's ASGI application: Django for HTTP, the chat consumer at /ws/."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.channels.settings")
# Django first: the consumer's module imports models, which need the app registry.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench.peers.channels.consumers import ChatConsumer  # noqa: E402

# No OriginValidator: the socket authenticates by a token in its URL, never by a cookie, and
# load clients send no Origin header (which AllowedHostsOriginValidator would refuse).
application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": URLRouter([path("ws/", ChatConsumer.as_asgi())]),
    }
)
