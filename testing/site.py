"""The site as `make run` serves it, on free ports: nginx in front of granian (WSGI) and
uvicorn (the feed), started with the same command lines as `make run` (ops.serving).

The long-poll and SSE views need an event loop that outlives a request (their listener),
which Django's test live server (WSGI, a thread per request) does not have: uvicorn serves
them here as in production.
"""

from pathlib import Path
from typing import Any

from ops.serving import asgi_command, asgi_environment

from .processes import ServerProcess, django_environment, free_port


class WsgiServer(ServerProcess):
    """granian serving this project as `make run` does (ops.serving.wsgi_command)."""

    def __init__(
        self,
        *,
        settings_module: str = "messenger.settings.test",
        workers: int = 2,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(port=port, log_path=log_path)
        self.settings_module = settings_module
        self.workers = workers
        self.application_name = f"wsgi-{self.port}"

    def command(self) -> list[str]:
        from ops.serving import wsgi_command

        return wsgi_command(port=self.port, workers=self.workers)

    def environment(self) -> dict[str, str]:
        from ops.serving import wsgi_environment

        env = django_environment(settings_module=self.settings_module, application_name=self.application_name)
        return env | wsgi_environment()


class NginxServer(ServerProcess):
    """nginx from the project's template (ops.serving), its files under `prefix`."""

    def __init__(self, *, prefix: Path, port: int | None = None, **values: Any) -> None:
        super().__init__(port=port, log_path=prefix / "nginx-out.log")
        from ops.serving import nginx_config_write

        self.prefix = prefix
        self.config_path = nginx_config_write(
            prefix=prefix, log_dir=prefix, listen_port=self.port, access_log=prefix / "access.log", **values
        )

    def command(self) -> list[str]:
        from ops.serving import nginx_command

        return nginx_command(prefix=self.prefix, log_dir=self.prefix)


class SiteServer:
    """The site as `make run` serves it: nginx in front of granian (WSGI) and uvicorn (the
    feed), on free ports, against the database Django uses now (the test database inside
    pytest). nginx proxies /connection/ to `centrifugo_port`, where a test may start a
    Centrifugo (testing.plugins.realtime.centrifugo_factory) or leave nothing listening.

    Static files are collected (symlinked) once into `workdir`, and nginx serves them, as in
    production."""

    def __init__(
        self,
        *,
        workdir: Path,
        settings_module: str = "messenger.settings.test",
        wsgi_workers: int = 2,
        web: ServerProcess | None = None,
        centrifugo_nodes: int = 1,
        **nginx_values: Any,
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Where nginx sends /connection/: one Centrifugo, or several (testing.centrifugo.
        # CentrifugoNodes on these ports), as `make run` has when one cannot hold them all.
        self.centrifugo_ports = [free_port() for _ in range(centrifugo_nodes)]
        self.centrifugo_internal_ports = [free_port() for _ in range(centrifugo_nodes)]
        self.centrifugo_port = self.centrifugo_ports[0]
        self.centrifugo_internal_port = self.centrifugo_internal_ports[0]
        if centrifugo_nodes > 1:
            nginx_values.setdefault("centrifugo_servers", [f"127.0.0.1:{port}" for port in self.centrifugo_ports])
        # `web`: another WSGI server in granian's place (`python -m bench api-throughput` compares).
        self.web = web or WsgiServer(
            settings_module=settings_module, workers=wsgi_workers, log_path=workdir / "wsgi.log"
        )
        self.feed = UvicornServer(settings_module=settings_module, log_path=workdir / "uvicorn.log")
        self.nginx_values = nginx_values
        self.nginx: NginxServer | None = None

    def _collect_static(self) -> Path:
        from django.core.management import call_command
        from django.test import override_settings

        root = self.workdir / "static"
        with override_settings(STATIC_ROOT=root):
            call_command("collectstatic", interactive=False, link=True, verbosity=0)
        return root

    def start(self, **extra_env: str) -> "SiteServer":
        """Starts the three; `extra_env` goes to the Django processes (settings)."""
        env = {
            "SITE_URL": self.url,
            "CENTRIFUGO_PORT": str(self.centrifugo_port),
            "CENTRIFUGO_INTERNAL_PORT": str(self.centrifugo_internal_port),
            "CENTRIFUGO_WS_URL": "",
        } | extra_env
        static_root = self._collect_static()
        try:
            self.web.start(**env)
            # Without a pool, so that the feed tests can count a waiting client's connections
            # (there must be none): a pool's idle ones would hide them.
            self.feed.start(**({"DB_POOL_MAX_SIZE": "0"} | env))
            self.nginx = NginxServer(
                prefix=self.workdir / "nginx",
                port=self.port,
                wsgi_port=self.web.port,
                asgi_port=self.feed.port,
                centrifugo_port=self.centrifugo_port,
                static_root=static_root,
                **self.nginx_values,
            ).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in (self.nginx, self.feed, self.web):
            if server is not None:
                server.stop()


class UvicornServer(ServerProcess):
    """uvicorn as `make run` starts the feed (ops.serving.asgi_command), against the database
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
