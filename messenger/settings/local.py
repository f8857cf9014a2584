"""Settings for `make run` on a developer's machine: base settings, DEBUG only if .env asks."""

from .base import *  # noqa: F403
