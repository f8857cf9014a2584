"""Writes nginx's and supervisord's configs under the state dir (scripts/run.sh calls it)."""

from django.core.management.base import BaseCommand, CommandError

from ops.serving import supervisord_config_write


class Command(BaseCommand):
    help = "Render deploy/nginx and deploy/supervisor templates into .state/ (nginx -t checks nginx's)."

    def handle(self, *args, **options) -> None:
        try:
            path = supervisord_config_write()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(path))
