"""How the processes are served: nginx's and supervisord's configs, and the command lines of
the WSGI and ASGI servers, in one place for `make run` and the tests alike.

`manage.py serving_config` renders `deploy/nginx/nginx.conf.template` and
`deploy/supervisor/supervisord.conf.template` with the settings' ports into .state/; the
tests render the same nginx template with free ports (testing.site.SiteServer) and start
granian and uvicorn with the same commands.
"""

import getpass
import ipaddress
import math
import os
import re
import resource
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings

from core.exceptions import OVERLOADED

from . import centrifugo

TEMPLATES = Path(settings.BASE_DIR) / "deploy"
NGINX_TEMPLATE = TEMPLATES / "nginx" / "nginx.conf.template"
SUPERVISORD_TEMPLATE = TEMPLATES / "supervisor" / "supervisord.conf.template"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# nginx's temp directories, under its prefix: nothing is written outside the state dir.
_NGINX_TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

# What every supervised program gets unless its section says otherwise: restarted whenever
# it exits (beat when the database went away, a crashed worker), retried for minutes while it
# cannot start (supervisord waits 1 s more after each failed try), stopped with its children.
PROGRAM_DEFAULTS = {
    "autostart": "true",
    "autorestart": "true",
    "startsecs": "2",
    "startretries": "60",
    "stopasgroup": "true",
    "killasgroup": "true",
    "stopwaitsecs": "15",
    "redirect_stderr": "true",
    "stdout_logfile": "{log_dir}/%(program_name)s.log",
    "stdout_logfile_maxbytes": "20MB",
    "stdout_logfile_backups": "2",
}


def nginx_binary() -> str:
    return os.environ.get("NGINX_BIN", "/usr/sbin/nginx")


def wsgi_command(
    *, port: int, workers: int | None = None, threads: int | None = None, host: str = "127.0.0.1"
) -> list[str]:
    """granian, one worker process per core, each with a few threads. Measured against
    gunicorn (gthread and sync workers) and a persistent connection per thread (`python -m
    bench api-throughput`, docs/performance.md): granian reads HTTP and queues requests in
    Rust, a sixth to a quarter less CPU per POST than gunicorn in Python; threads overlap a
    request's waits on PostgreSQL (a commit's fsync) with another's Python. nginx buffers
    each request and answer whole, so a slow client never holds a thread, and stamps each
    request when it hands it on (core.worker.queue_time_limited)."""
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        # Built in each worker (messenger.wsgi.served_application): metrics directory, watchdog.
        "--factory",
        "messenger.wsgi:served_application",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers or settings.WSGI_WORKERS),
        "--blocking-threads",
        str(threads or settings.WSGI_THREADS),
        "--http",
        "1",
        "--no-ws",
        "--backlog",
        "2048",
        # Longer than nginx keeps an idle upstream connection (keepalive_timeout in the
        # template), so nginx never sends a request on a connection granian is closing.
        "--http1-header-read-timeout",
        "60000",
        # A worker that ended (core.worker.Watchdog, a crash) is started again.
        "--respawn-failed-workers",
        "--respawn-interval",
        "1",
        "--workers-kill-timeout",
        "10",
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def wsgi_environment(*, threads: int | None = None) -> dict[str, str]:
    """A psycopg pool per process with a connection per thread: a request never waits for a
    connection while the database keeps up, and waits DB_POOL_TIMEOUT (1 s) at most when it
    does not, then answers 503 (core.exceptions). A persistent connection per thread
    measured no faster, and a connect timeout cannot go below libpq's 2 s."""
    return {"DB_POOL_MAX_SIZE": str(threads or settings.WSGI_THREADS), "DB_CONN_MAX_AGE": "0"}


def asgi_command(*, port: int, workers: int = 1, host: str = "127.0.0.1") -> list[str]:
    """uvicorn with uvloop and httptools for the feed: one process is one event listener."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "messenger.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        # Longer than nginx keeps an idle upstream connection (see wsgi_command).
        "--timeout-keep-alive",
        "75",
        "--timeout-graceful-shutdown",
        "5",
    ]


def asgi_environment() -> dict[str, str]:
    """The feed's database calls are short, each in a worker thread that gives its
    connection back at once (edge.feed_apis): a pool of 8 serves them all, instead of a
    new connection per call (docs/transports.md measured the difference)."""
    return {"DB_POOL_MAX_SIZE": "8"}


def max_open_files() -> int:
    """As many descriptors as this user may open (no process can raise the hard limit);
    nginx and Centrifugo hold one per connection."""
    return min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 65536)


# Descriptors a worker keeps for itself: its log files, its listening socket, the channel to
# the master; the rest are connections.
_NGINX_RESERVED_FILES = 64
# nginx spreads connections over its workers (reuseport), not exactly evenly: room for that.
_NGINX_SPREAD_MARGIN = 1.25


def nginx_capacity(*, max_files: int, websockets: int, cpus: int | None = None) -> tuple[int, int]:
    """`(worker_processes, worker_connections)` for holding `websockets` proxied WebSockets
    (two connections each: the client's and Centrifugo's) when one process may open
    `max_files` descriptors: a worker takes as many connections as its descriptors allow,
    and there are enough workers for all of them, at least one per core."""
    per_worker = max(max_files - _NGINX_RESERVED_FILES, 512)
    needed = math.ceil(2 * websockets * _NGINX_SPREAD_MARGIN / per_worker)
    return max(cpus or len(os.sched_getaffinity(0)), needed), per_worker


def _addresses(values: list[str], setting: str) -> list[str]:
    """Addresses or networks, checked here: nginx would refuse a bad one only at start."""
    try:
        return [str(ipaddress.ip_network(value.strip(), strict=False)) for value in values if value.strip()]
    except ValueError as exc:
        raise ValueError(f"{setting}: {exc}") from exc


def _geo_entries(addresses: list[str]) -> str:
    return "\n".join(f"        {address} 1;" for address in addresses)


def _real_ip_directives(trusted: list[str]) -> str:
    if not trusted:
        return "    # (no trusted proxy: TRUSTED_PROXY_ADDRESSES is empty)"
    lines = [f"    set_real_ip_from {address};" for address in trusted]
    return "\n".join([*lines, "    real_ip_header X-Forwarded-For;", "    real_ip_recursive on;"])


def _fill(template: str, values: dict[str, Any]) -> str:
    def value(match: re.Match) -> str:
        return str(values[match.group(1)])

    return _PLACEHOLDER.sub(value, template)


def upstream_servers(addresses: list[str], *, failover: bool = False) -> str:
    """An upstream block's `server` lines. One server is never marked down (max_fails=0:
    there is nowhere else to go); with several (the cluster profile, ops.cluster), a server
    that refused a connection is skipped for a few seconds, and nginx passes the request to
    the next one (a refused connect has sent nothing, so even a POST is safe to pass on)."""
    options = "max_fails=1 fail_timeout=5s" if failover and len(addresses) > 1 else "max_fails=0"
    return "\n".join(f"        server {address} {options};" for address in addresses)


def nginx_config_values(**overrides: Any) -> dict[str, Any]:
    """The nginx template's values from settings; `overrides` replaces any of them (tests).
    `wsgi_servers`, `asgi_servers` and `centrifugo_servers` (lists of host:port) put several
    nodes behind one upstream; by default each upstream is the one loopback port."""
    prefix = Path(settings.STATE_DIR) / "nginx"
    max_files = max_open_files()
    worker_processes, worker_connections = nginx_capacity(max_files=max_files, websockets=settings.EDGE_MAX_WEBSOCKETS)
    values: dict[str, Any] = {
        "prefix": prefix,
        "log_dir": Path(settings.STATE_DIR) / "log",
        "access_log": "off",
        # Workers switch to this user when the master runs as root: the one who owns .state/.
        "user_directive": f"user {getpass.getuser()};" if os.geteuid() == 0 else "",
        "worker_processes": worker_processes,
        "max_files": max_files,
        "worker_connections": worker_connections,
        "listen_port": settings.WEB_PORT,
        "wsgi_port": settings.WSGI_PORT,
        "asgi_port": settings.ASGI_PORT,
        "centrifugo_port": settings.CENTRIFUGO_PORT,
        "static_root": settings.STATIC_ROOT,
        "max_body_bytes": settings.MAX_REQUEST_BODY_BYTES,
        "attachments_max_body_bytes": settings.REQUEST_BODY_LIMITS[settings.ATTACHMENTS_UPLOAD_PATH],
        "attachments_accel_prefix": settings.ATTACHMENTS_ACCEL_PREFIX,
        "attachments_root": settings.ATTACHMENTS_ROOT,
        "wsgi_max_in_flight": settings.WSGI_MAX_IN_FLIGHT,
        "asgi_max_connections": settings.ASGI_MAX_CONNECTIONS,
        "retry_after": settings.OVERLOAD_RETRY_AFTER_SECONDS,
        "overloaded_message": OVERLOADED,
        "client_timeout": settings.CLIENT_SEND_TIMEOUT_SECONDS,
        "client_max_in_flight": settings.CLIENT_MAX_IN_FLIGHT,
        "client_request_rate": settings.CLIENT_REQUEST_RATE,
        "client_request_burst": settings.CLIENT_REQUEST_BURST,
        "client_max_streams": settings.CLIENT_MAX_STREAMS,
        "client_max_websockets": settings.CLIENT_MAX_WEBSOCKETS,
        "client_connect_rate": settings.CLIENT_CONNECT_RATE,
        "client_connect_burst": settings.CLIENT_CONNECT_BURST,
        "token_issue_rate": settings.TOKEN_ISSUE_RATE,
        "token_issue_queue": settings.TOKEN_ISSUE_QUEUE,
        "admission_exempt": settings.ADMISSION_EXEMPT_ADDRESSES,
        "trusted_proxies": settings.TRUSTED_PROXY_ADDRESSES,
    }
    kinds = ("wsgi", "asgi", "centrifugo")
    unknown = set(overrides) - set(values) - {f"{kind}_servers" for kind in kinds}
    if unknown:
        raise KeyError(f"unknown nginx config values: {sorted(unknown)}")
    values |= overrides
    trusted = _addresses(values.pop("trusted_proxies"), "TRUSTED_PROXY_ADDRESSES")
    values["real_ip_directives"] = _real_ip_directives(trusted)
    values["trusted_proxy_entries"] = _geo_entries(trusted)
    values["admission_exempt_entries"] = _geo_entries(
        _addresses(values.pop("admission_exempt"), "ADMISSION_EXEMPT_ADDRESSES")
    )
    if not values.get("centrifugo_servers") and "centrifugo_port" not in overrides:
        values["centrifugo_servers"] = centrifugo.node_addresses()  # every node of this machine
    for kind in kinds:
        servers = values.get(f"{kind}_servers") or [f"127.0.0.1:{values[f'{kind}_port']}"]
        values[f"{kind}_servers"] = upstream_servers(servers, failover=True)
    return values


def nginx_config_write(**overrides: Any) -> Path:
    """Writes `<prefix>/nginx.conf`, makes its temp and log directories, checks it with
    `nginx -t`; returns the file's path."""
    values = nginx_config_values(**overrides)
    prefix = Path(values["prefix"])
    for name in _NGINX_TEMP_DIRS:
        (prefix / name).mkdir(parents=True, exist_ok=True)
    Path(values["log_dir"]).mkdir(parents=True, exist_ok=True)
    path = prefix / "nginx.conf"
    path.write_text(_fill(NGINX_TEMPLATE.read_text(), values))
    result = subprocess.run(  # noqa: S603 - nginx, a file we wrote
        [*nginx_command(prefix=prefix, log_dir=Path(values["log_dir"])), "-t", "-q"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise ValueError(f"nginx -t refused {path}: {result.stderr.strip()}")
    return path


def nginx_command(*, prefix: Path, log_dir: Path) -> list[str]:
    """nginx in the foreground (the config says `daemon off`), every path under `prefix`;
    -e: its error log before it has read the config, not /var/log/nginx."""
    return [
        nginx_binary(),
        "-p",
        f"{prefix}/",
        "-c",
        str(prefix / "nginx.conf"),
        "-e",
        str(log_dir / "nginx-error.log"),
    ]


def _supervisor_environment(env: dict[str, str]) -> str:
    return ",".join(f'{key}="{value}"' for key, value in env.items())


def _with_program_defaults(config: str, defaults: dict[str, str]) -> str:
    """Adds to every [program:x] section the defaults it does not set itself."""
    sections = re.split(r"(?m)^(?=\[)", config)
    out = []
    for section in sections:
        if section.startswith("[program:"):
            lines = section.splitlines(keepends=True)
            options = [i for i, line in enumerate(lines) if re.match(r"\w+\s*=", line)]
            keys = {lines[i].split("=", 1)[0].strip() for i in options}
            extra = [f"{key}={value}\n" for key, value in defaults.items() if key not in keys]
            # After its last option, before the comment that introduces the next section.
            section = "".join(lines[: options[-1] + 1] + extra + lines[options[-1] + 1 :])
        out.append(section)
    return "".join(out)


def supervisord_config_write(path: Path | None = None) -> Path:
    """Writes supervisord's config (and nginx's, which it runs) under the state dir."""
    state = Path(settings.STATE_DIR)
    log_dir, run_dir = state / "log", state / "run"
    for directory in (log_dir, run_dir, state / "mail"):
        directory.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("FLOWER_PASSWORD"):
        raise ValueError("FLOWER_PASSWORD is empty: Flower needs a password (set it in .env)")
    os.environ.setdefault("FLOWER_USER", "flower")
    nginx_conf = nginx_config_write()
    # nginx sets X-Forwarded-For to the client's address: the throttles and the lockout
    # count that client, not nginx (core.net.client_ip).
    behind_nginx = {"TRUSTED_PROXY_COUNT": "1"}
    node_environment = centrifugo.node_environment()
    centrifugo_environment = f"environment={_supervisor_environment(node_environment)}\n" if node_environment else ""
    values = {
        "root": settings.BASE_DIR,
        "state_dir": state,
        "log_dir": log_dir,
        "run_dir": run_dir,
        "venv": Path(sys.executable).parent.parent,
        "nginx_command": shlex.join(nginx_command(prefix=nginx_conf.parent, log_dir=log_dir)),
        "web_command": shlex.join(wsgi_command(port=settings.WSGI_PORT)),
        "web_environment": _supervisor_environment(wsgi_environment() | behind_nginx),
        "feed_command": shlex.join(asgi_command(port=settings.ASGI_PORT)),
        "feed_environment": _supervisor_environment(asgi_environment() | behind_nginx),
        "flower_port": os.environ.get("FLOWER_PORT", "5555"),
        "email_port": settings.EMAIL_PORT,
        "max_files": max_open_files(),
        "centrifugo_environment": centrifugo_environment,
        "centrifugo_more_nodes": "".join(
            f"\n[program:centrifugo{node + 1}]\ncommand={settings.BASE_DIR}/scripts/centrifugo.sh {node}\n"
            f"{centrifugo_environment}"
            for node in range(1, centrifugo.node_count())
        ),
    }
    defaults = {key: value.format(log_dir=log_dir) for key, value in PROGRAM_DEFAULTS.items()}
    path = path or state / "supervisord.conf"
    path.write_text(_with_program_defaults(_fill(SUPERVISORD_TEMPLATE.read_text(), values), defaults))
    return path
