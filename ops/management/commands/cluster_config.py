"""Writes the cluster profile's configs (supervisord, nginx, PgBouncer, each Centrifugo node)
under its state dir; scripts/cluster.sh calls it after making the namespaces."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.cluster import ClusterConfig, Layout


class Command(BaseCommand):
    help = "Render the cluster profile (ops/cluster.py) into its state dir."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--state-dir", type=Path, required=True)
        parser.add_argument("--web-port", type=int, default=8900)
        parser.add_argument("--prefix", default="msg-")
        parser.add_argument("--subnet", default="10.77.0")
        parser.add_argument("--loopback", action="store_true", help="no namespaces: distinct 127.0.0.x addresses")

    def handle(self, *args, **options) -> None:
        layout = Layout.make(isolated=not options["loopback"], prefix=options["prefix"], subnet=options["subnet"])
        config = ClusterConfig(layout=layout, state_dir=options["state_dir"].resolve(), web_port=options["web_port"])
        try:
            path = config.supervisord_write()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(path))
