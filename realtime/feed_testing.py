"""A real uvicorn serving this project on a free port, for the feed tests and the benchmark.

The long-poll and SSE views need an event loop that outlives a request (their listener),
which Django's test live server (WSGI, a thread per request) does not have. Tests reach it
through nginx as part of core.testing.SiteServer; benchmarks may start it alone.
"""

from pathlib import Path

from core.serving import asgi_command, asgi_environment
from core.testing import ServerProcess, django_environment


class UvicornServer(ServerProcess):
    """uvicorn as `make run` starts the feed (core.serving.asgi_command), against the database
    Django uses now (the test database inside pytest). With one worker, one process and one
    listener; `workers` starts more (benchmarks)."""

    def __init__(
        self, *, settings_module: str = "messenger.settings.test", log_path: Path | None = None, workers: int = 1
    ) -> None:
        super().__init__(log_path=log_path)
        self.application_name = f"uvicorn-{self.port}"
        self.settings_module = settings_module
        self.workers = workers

    def command(self) -> list[str]:
        return asgi_command(port=self.port, workers=self.workers)

    def environment(self) -> dict[str, str]:
        env = django_environment(settings_module=self.settings_module, application_name=self.application_name)
        return env | asgi_environment()
