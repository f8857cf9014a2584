"""The python-socketio peer's ASGI application: Socket.IO at /socket.io/, Django for the rest."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.socketio.settings")
# Django first: the server's module imports models, which need the app registry.
django_application = get_asgi_application()

import socketio  # noqa: E402

from bench.peers.socketio.server import sio  # noqa: E402

application = socketio.ASGIApp(sio, other_asgi_app=django_application, socketio_path="socket.io")
