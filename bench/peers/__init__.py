"""The peers the product is measured beside (Django Channels, python-socketio, nginx + Nchan)."""

import logging
import os


def django_setup() -> None:
    """Django under the peers' settings (bench/peers/settings.py), whatever the environment names."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.peers.settings"
    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
