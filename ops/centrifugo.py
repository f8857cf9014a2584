"""Centrifugo's config, rendered from `deploy/centrifugo/config.template.json` and settings.

The template holds the shape (namespaces, consumer, endpoints); the values, secrets among
them, come from settings, that is from the environment. `manage.py centrifugo_config`
writes the result under .state/ (never committed) and validates it with
`centrifugo checkconfig`; the tests render the same template for their own Centrifugo.
"""

import json
import math
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from django.conf import settings

from core.database import database_url

TEMPLATE_PATH = Path(settings.BASE_DIR) / "deploy" / "centrifugo" / "config.template.json"
# Descriptors a node keeps for itself (listeners, Redis and PostgreSQL connections, logs):
# its client connections stop below its descriptor limit by this much.
RESERVED_FILES = 200
_PLACEHOLDER = re.compile(r"^\$\{(\w+)\}$")


def centrifugo_binary() -> Path:
    """The binary that scripts/setup.sh built once, outside the clone (see scripts/lib.sh)."""
    if os.environ.get("CENTRIFUGO_BIN"):
        return Path(os.environ["CENTRIFUGO_BIN"])
    cache = Path(os.environ.get("MESSENGER_CACHE_DIR", Path.home() / ".cache" / "messenger"))
    return cache / "centrifugo-v6.9.1" / "centrifugo"


def connection_limit() -> int:
    """CENTRIFUGO_CONNECTION_LIMIT, or what the descriptor limit allows (one per WebSocket)."""
    if settings.CENTRIFUGO_CONNECTION_LIMIT:
        return settings.CENTRIFUGO_CONNECTION_LIMIT
    from .serving import max_open_files

    return max(max_open_files() - RESERVED_FILES, 100)


# Node i of this machine listens on the configured ports plus i times this.
NODE_PORT_STEP = 100


def node_count() -> int:
    """Centrifugo processes on this machine: CENTRIFUGO_NODES, or as many as it takes to hold
    EDGE_MAX_WEBSOCKETS when each needs a descriptor per client and no process may open more
    than the hard limit (20,000 here: two nodes for 20,000 WebSockets, one where the limit
    is 65,536). More than one share a Redis broker, as the cluster profile's nodes do."""
    if settings.CENTRIFUGO_NODES:
        return settings.CENTRIFUGO_NODES
    return max(1, math.ceil(settings.EDGE_MAX_WEBSOCKETS / connection_limit()))


def node_environment(nodes: int | None = None) -> dict[str, str]:
    """What each node's process runs with besides its config. Several nodes on one machine
    split its cores, as the web's workers do: GOMAXPROCS, so that each node's Go scheduler
    has as many processors as its share of the cores. Sized to the whole machine, each node's
    idle processors spun looking for work, an eighth of Centrifugo's CPU in scenario 2
    (docs/performance.md, sixteenth pass). One node keeps Go's own default."""
    nodes = node_count() if nodes is None else nodes
    if nodes <= 1:
        return {}
    return {"GOMAXPROCS": str(max(1, len(os.sched_getaffinity(0)) // nodes))}


def node_ports(node: int) -> tuple[int, int]:
    """Node `node`'s (client port, internal port): node 0 has CENTRIFUGO_PORT and
    CENTRIFUGO_INTERNAL_PORT (the server API the app calls, CENTRIFUGO_API_URL)."""
    step = NODE_PORT_STEP * node
    return settings.CENTRIFUGO_PORT + step, settings.CENTRIFUGO_INTERNAL_PORT + step


def node_addresses() -> list[str]:
    """Every node's client address, for nginx's /connection/ upstream."""
    return [f"127.0.0.1:{node_ports(node)[0]}" for node in range(node_count())]


def node_overrides(node: int, nodes: int | None = None) -> dict[str, Any]:
    """config_values' overrides for node `node` of `nodes` on this machine: its ports and
    name, and the Redis engine whenever there is more than one (a publication on one node
    reaches the clients of every other; history and presence are shared)."""
    nodes = node_count() if nodes is None else nodes
    if not 0 <= node < nodes:
        raise ValueError(f"Centrifugo node {node}: this machine runs nodes 0 to {nodes - 1}")
    port, internal_port = node_ports(node)
    overrides: dict[str, Any] = {"port": port, "internal_port": str(internal_port), **outbox_overrides(node)}
    if nodes > 1:
        overrides |= {"engine": "redis", "node_name": f"centrifugo{node + 1}"}
    return overrides


def outbox_overrides(node: int) -> dict[str, Any]:
    """Node 0 of a machine is woken by each commit's NOTIFY to read the outbox; the others
    only poll it (`partition_poll_interval`, 1 s), and so publish within a second while node
    0 is down. When every node was woken, each wake-up read the outbox once per node under
    one advisory lock: the other nodes waited for it and read nothing, doubling Centrifugo's
    CPU per message with two nodes (docs/performance.md, fifth pass)."""
    return {} if node == 0 else {"outbox_notification_channel": ""}


def config_values(**overrides: Any) -> dict[str, Any]:
    """The template's values from settings; `overrides` replaces any of them (tests)."""
    values: dict[str, Any] = {
        # One node on loopback; the cluster profile (ops.cluster) gives each node its address.
        "address": "127.0.0.1",
        "internal_address": "127.0.0.1",
        "port": settings.CENTRIFUGO_PORT,
        # Its internal_port is a string in v6's config.
        "internal_port": str(settings.CENTRIFUGO_INTERNAL_PORT),
        "log_level": "info",
        # How the node calls itself in `info` and the admin UI: one name per node of a cluster.
        "node_name": "centrifugo",
        "site_origins": settings.SITE_ORIGINS,
        "token_hmac_secret": settings.CENTRIFUGO_TOKEN_HMAC_SECRET,
        "http_api_key": settings.CENTRIFUGO_HTTP_API_KEY,
        "admin_password": settings.CENTRIFUGO_ADMIN_PASSWORD,
        "admin_secret": settings.CENTRIFUGO_ADMIN_SECRET,
        "engine": settings.CENTRIFUGO_ENGINE,
        # Several addresses shard channels over Redis instances by consistent hashing.
        "redis_addresses": [settings.REDIS_URL],
        "redis_prefix": "centrifugo",
        "personal_namespace": settings.CENTRIFUGO_PERSONAL_NAMESPACE,
        "typing_namespace": settings.CENTRIFUGO_TYPING_NAMESPACE,
        "chat_namespace": settings.CENTRIFUGO_CHAT_NAMESPACE,
        "chat_history_size": settings.CENTRIFUGO_CHAT_HISTORY_SIZE,
        "chat_presence": settings.CENTRIFUGO_CHAT_PRESENCE,
        "history_size": settings.CENTRIFUGO_HISTORY_SIZE,
        "history_ttl": settings.CENTRIFUGO_HISTORY_TTL,
        "database_dsn": database_url(sslmode="disable"),
        # Go's profiler (/debug/pprof on the internal port): the bench's own nodes only
        # (bench.go_profile), never a running site.
        "debug": False,
        # The LISTEN channel that wakes the outbox consumer (empty: it polls only).
        "outbox_notification_channel": "centrifugo_outbox",
        "connection_limit": connection_limit(),
        "user_connection_limit": settings.CENTRIFUGO_USER_CONNECTION_LIMIT,
        "connection_rate_limit": settings.CENTRIFUGO_CONNECTION_RATE_LIMIT,
        "channel_limit": settings.CENTRIFUGO_CHANNEL_LIMIT,
    }
    unknown = set(overrides) - set(values)
    if unknown:
        raise KeyError(f"unknown Centrifugo config values: {sorted(unknown)}")
    values.update(overrides)
    if values["engine"] not in ("memory", "redis"):
        raise ValueError(f"CENTRIFUGO_ENGINE is memory or redis, not {values['engine']!r}")
    # Centrifugo itself accepts these empty, which would leave its admin UI or API open.
    for secret in ("token_hmac_secret", "http_api_key", "admin_password", "admin_secret"):
        if not values[secret]:
            raise ValueError(f"CENTRIFUGO_{secret.upper()} is empty: set it in the environment or .env")
    return values


def _fill(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {key: _fill(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, str) and (match := _PLACEHOLDER.match(node)):
        return values[match.group(1)]
    return node


def config_render(**overrides: Any) -> dict[str, Any]:
    """The config as a dict; a placeholder takes the value's own JSON type (a port is a number)."""
    template = json.loads(TEMPLATE_PATH.read_text())
    config = _fill(template, config_values(**overrides))
    if config["engine"]["type"] == "memory":
        del config["engine"]["redis"]
    return config


def config_write(path: Path, **overrides: Any) -> Path:
    """Writes the rendered config (it holds secrets: owner-only) and checks it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(config_render(**overrides), file, indent=2)
    config_check(path)
    return path


def config_check(path: Path) -> None:
    """Runs `centrifugo checkconfig`; raises with its output when Centrifugo refuses the file."""
    result = subprocess.run(  # noqa: S603 - a fixed binary and a path we wrote
        [str(centrifugo_binary()), "checkconfig", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise ValueError(f"centrifugo checkconfig refused {path}: {result.stdout}{result.stderr}".strip())
