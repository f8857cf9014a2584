"""The product's processes for `make bench` (in production settings, on the bench database) and
for the benchmarks that need the whole site (bench/scenarios/attachment_latency.py):
the project's own launcher (testing.site.SiteServer: nginx from deploy/nginx/, granian and
uvicorn with ops.serving's command lines, as `make run` starts them), with a Centrifugo
where its nginx proxies /connection/ (its admin, API and metrics on the internal port).
"""

import os
import tempfile
import uuid
from pathlib import Path

from bench import procs


class SiteStack:
    """The project's own launcher (testing.site.SiteServer) with a Centrifugo behind it."""

    def __init__(
        self,
        *,
        workers: int | None = None,
        settings_module: str = "messenger.settings.production",
        workdir: Path | None = None,
    ) -> None:
        from testing.site import SiteServer

        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="bench-site-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o711)
        from ops.centrifugo import node_count

        self.site = SiteServer(
            workdir=self.workdir,
            settings_module=settings_module,
            wsgi_workers=workers or os.cpu_count() or 2,
            # As many Centrifugo processes as `make run` starts for EDGE_MAX_WEBSOCKETS.
            centrifugo_nodes=node_count(),
        )
        self.origin = self.url = self.site.url
        self.ws_url = self.url.replace("http://", "ws://") + "/connection/websocket"
        self.centrifugo = None
        # With several nodes, the Redis engine's history: the stack's own, deleted as it stops.
        self.redis_prefix = f"bench-centrifugo-{uuid.uuid4().hex[:8]}"
        self.env: dict[str, str] = {}

    def start(self, *, profiled: bool = False, **extra_env: str) -> "SiteStack":
        """Starts Centrifugo (its node set), then the site; `extra_env` goes to the Django
        processes. `profiled`: Centrifugo with Go's profiler on (bench.go_profile)."""
        from testing.centrifugo import CentrifugoNodes

        self.centrifugo = CentrifugoNodes(
            origin=self.origin,
            log_level="warn",
            workdir=self.workdir / "centrifugo",
            ports=self.site.centrifugo_ports,
            internal_ports=self.site.centrifugo_internal_ports,
            redis_prefix=self.redis_prefix,
            debug=profiled,
        )
        try:
            self.centrifugo.start()
            self.env = {
                "LOG_LEVEL": "WARNING",
                "CENTRIFUGO_WS_URL": self.ws_url,
                # Production settings redirect plain HTTP to HTTPS; the bench's loopback nginx
                # has no TLS (a TLS terminator in front is a deployment's, not measured here).
                "DJANGO_SECURE_SSL_REDIRECT": "false",
                **extra_env,
            }
            self.site.start(**self.env)
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self, name: str) -> None:
        if name == "centrifugo":
            self.centrifugo.stop()
            self.centrifugo.start()
            return
        server = {"web": self.site.web, "uvicorn": self.site.feed}[name]
        server.stop()
        server.start(**self.env)

    def stop(self) -> None:
        from testing.centrifugo import redis_keys_deleted

        self.site.stop()
        if self.centrifugo:
            self.centrifugo.stop()
            redis_keys_deleted(self.redis_prefix)

    def roles(self) -> dict[str, list[int]]:
        roles = {}
        for name, server in (("nginx", self.site.nginx), ("web", self.site.web), ("uvicorn", self.site.feed)):
            if server is not None and server.process is not None:
                roles[name] = procs.tree(server.process.pid)
        if self.centrifugo and self.centrifugo.pids:
            roles["centrifugo"] = self.centrifugo.pids
        return roles


def stack_start(*, profiled: bool = False) -> SiteStack:
    return SiteStack().start(profiled=profiled)
