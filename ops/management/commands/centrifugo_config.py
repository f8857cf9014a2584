"""Writes Centrifugo's config from the template and the settings, then checks it."""

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection

from ops.centrifugo import config_write, node_overrides


class Command(BaseCommand):
    help = "Render deploy/centrifugo/config.template.json into .state/centrifugo/config.json and checkconfig it."

    def add_arguments(self, parser) -> None:
        default = Path(settings.STATE_DIR) / "centrifugo" / "config.json"
        parser.add_argument("--output", type=Path, default=default, help="where to write")
        parser.add_argument("--node", type=int, default=0, help="which Centrifugo node of this machine (0, 1, ...)")
        parser.add_argument(
            "--wait-db",
            type=float,
            default=0,
            metavar="SECONDS",
            help="first wait up to this long for the database (Centrifugo's outbox consumer exits without it)",
        )

    def handle(self, *args, output: Path, wait_db: float, node: int, **options) -> None:
        deadline = time.monotonic() + wait_db
        while wait_db:
            try:
                connection.ensure_connection()
                break
            except OperationalError as exc:
                if time.monotonic() > deadline:
                    raise CommandError(f"the database did not answer within {wait_db:g} s: {exc}") from exc
                time.sleep(0.5)
        try:
            path = config_write(output, **node_overrides(node))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(path))
