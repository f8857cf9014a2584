"""The cluster profile (`make run-cluster`, the cluster test, `python -m bench cluster`): the product on
two nodes of each kind, one address per node, rendered from the single-node configs.

Nodes and their addresses (`CLUSTER_SUBNET`, 10.77.0 by default; `.1` is this host):

    web1 .11  web2 .12      granian (WSGI), through PgBouncer
    feed1 .21 feed2 .22     uvicorn (long poll, SSE); PostgreSQL directly (LISTEN)
    centrifugo1 .31  .32    Centrifugo, Redis engine sharded over redis1 + redis2; the outbox
                            consumer on both, PostgreSQL directly (advisory locks)
    redis1 .41 redis2 .42   Centrifugo's two shards; redis1 is also Celery's broker
    worker1 .51             Celery on default + reports, and the one beat
    worker2 .52             Celery on email, and the SMTP sink it sends to

Each node is a network namespace of its own (`scripts/cluster.sh up`: `ip netns`, a veth
into one bridge), so its traffic crosses an interface; the host (nginx, PgBouncer, a relay
to PostgreSQL) is `.1` on that bridge. Without CAP_NET_ADMIN the same layout runs on
distinct loopback addresses (127.0.0.x) instead, every process in this host's namespace.

Importing this module needs no Django settings (`python -m ops.cluster plan` feeds the
shell script); rendering does.
"""

import math
import os
import re
import secrets
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# name, kind, last octet of the address.
NODES: tuple[tuple[str, str, int], ...] = (
    ("web1", "web", 11),
    ("web2", "web", 12),
    ("feed1", "feed", 21),
    ("feed2", "feed", 22),
    ("centrifugo1", "centrifugo", 31),
    ("centrifugo2", "centrifugo", 32),
    ("redis1", "redis", 41),
    ("redis2", "redis", 42),
    ("worker1", "worker", 51),
    ("worker2", "worker", 52),
)
HOST_OCTET = 1
# Every node has its own address, so every node of a kind listens on the same ports.
WEB_PORT, FEED_PORT = 8000, 8001
CENTRIFUGO_PORT, CENTRIFUGO_INTERNAL_PORT = 8000, 9000
# A Centrifugo node runs more than one process when the profile's EDGE_MAX_WEBSOCKETS does not
# fit its nodes' descriptor limits (one descriptor per client): process k listens on the ports
# above plus this times k, and is the supervisord program `<node>_<k + 1>`.
CENTRIFUGO_PROCESS_PORT_STEP = 100
REDIS_PORT = 6379
SMTP_PORT = 8825
PGBOUNCER_PORT = 6432
# Queues per worker node: mail on its own, so a flood of mail never delays the rest.
WORKER_QUEUES = {"worker1": "default,bulk,reports", "worker2": "email"}  # bulk mail apart from email
BEAT_NODE = "worker1"
SMTP_NODE = "worker2"
BROKER_NODE = "redis1"


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    address: str
    # The network namespace it runs in; None on loopback addresses.
    namespace: str | None


@dataclass(frozen=True)
class Layout:
    """Where every node is. `isolated`: namespaces (else loopback addresses)."""

    isolated: bool
    prefix: str = "msg-"
    subnet: str = "10.77.0"
    nodes: tuple[Node, ...] = field(default=())

    @classmethod
    def make(cls, *, isolated: bool, prefix: str = "msg-", subnet: str = "10.77.0") -> "Layout":
        nodes = tuple(
            Node(name, kind, f"{subnet}.{octet}", f"{prefix}{name}" if isolated else None)
            for name, kind, octet in NODES
        )
        return cls(isolated=isolated, prefix=prefix, subnet=subnet, nodes=nodes)

    @property
    def host_address(self) -> str:
        """This host as the nodes see it: PgBouncer and the relay to PostgreSQL listen here."""
        return f"{self.subnet}.{HOST_OCTET}" if self.isolated else "127.0.0.1"

    def of_kind(self, kind: str) -> list[Node]:
        return [node for node in self.nodes if node.kind == kind]

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def in_node(self, node: Node, command: list[str]) -> list[str]:
        """`command` run inside the node's namespace."""
        return ["ip", "netns", "exec", node.namespace, *command] if node.namespace else command


@dataclass
class Program:
    """One supervisord [program:] section."""

    name: str
    command: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    def section(self) -> str:
        def escape(text: str) -> str:
            return text.replace("%", "%%")

        lines = [f"[program:{self.name}]", f"command={escape(shlex.join(self.command))}"]
        if self.environment:
            env = ",".join(f'{key}="{escape(value)}"' for key, value in self.environment.items())
            lines.append(f"environment={env}")
        lines += [f"{key}={value}" for key, value in self.options.items()]
        return "\n".join(lines) + "\n"


@dataclass
class ClusterConfig:
    """What the cluster needs to be rendered: the layout, where its files go, the port of its
    nginx, the database (a Django DATABASES entry) and the Django settings module."""

    layout: Layout
    state_dir: Path
    web_port: int
    settings_module: str = "messenger.settings.local"
    database: dict[str, Any] | None = None
    redis_prefix: str = "centrifugo"
    static_root: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def site_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def supervisord_conf(self) -> Path:
        return self.state_dir / "supervisord.conf"

    # --- addresses -------------------------------------------------------------------------
    def _database(self) -> dict[str, Any]:
        from django.conf import settings

        return self.database or settings.DATABASES["default"]

    def database_url(self, *, pooled: bool, application_name: str) -> str:
        """Through PgBouncer (pooled) or straight to PostgreSQL (a session: LISTEN, advisory
        locks). On namespaces PostgreSQL is reached through the host's relay."""
        from core.database import database_url

        db = dict(self._database())
        db["HOST"] = self.layout.host_address if (pooled or self.layout.isolated) else (db.get("HOST") or "127.0.0.1")
        db["PORT"] = self.pgbouncer_port if pooled else (db.get("PORT") or 5432)
        return database_url(db, sslmode="disable", application_name=application_name)

    @property
    def pgbouncer_port(self) -> int:
        # On loopback the host's port is shared with everything else on this machine.
        return PGBOUNCER_PORT if self.layout.isolated else self.web_port + 1

    @property
    def smtp_port(self) -> int:
        return SMTP_PORT if self.layout.isolated else self.web_port + 2

    @property
    def redis_password(self) -> str:
        """The cluster's Redis password: made once per state directory, kept in a file only
        its owner reads (a node's Redis is reachable from every other node)."""
        path = self.state_dir / "redis.password"
        if not path.exists():
            _private_write(path, secrets.token_urlsafe(24))
        return path.read_text().strip()

    def redis_url(self, node_name: str, db: int = 0) -> str:
        return f"redis://:{self.redis_password}@{self.layout.node(node_name).address}:{REDIS_PORT}/{db}"

    def centrifugo_processes(self) -> int:
        """Centrifugo processes per Centrifugo node: enough that the profile's nodes hold
        EDGE_MAX_WEBSOCKETS, each process below its descriptor limit (ops.centrifugo)."""
        from django.conf import settings

        from ops.centrifugo import connection_limit

        nodes = len(self.layout.of_kind("centrifugo"))
        return max(1, math.ceil(settings.EDGE_MAX_WEBSOCKETS / (nodes * connection_limit())))

    def centrifugo_instances(self) -> list[tuple[Node, int, str]]:
        """(node, process, program name) of every Centrifugo process."""
        return [
            (node, k, node.name if k == 0 else f"{node.name}_{k + 1}")
            for node in self.layout.of_kind("centrifugo")
            for k in range(self.centrifugo_processes())
        ]

    def centrifugo_api_url(self, node: Node) -> str:
        return f"http://{node.address}:{CENTRIFUGO_INTERNAL_PORT}/api"

    def url(self, node: Node) -> str:
        """The node's own HTTP address (tests call one node past nginx)."""
        port = {"web": WEB_PORT, "feed": FEED_PORT, "centrifugo": CENTRIFUGO_PORT}[node.kind]
        return f"http://{node.address}:{port}"

    # --- rendering -------------------------------------------------------------------------
    def django_environment(self, *, pooled: bool, application_name: str) -> dict[str, str]:
        """What every Django process of the cluster gets (its own settings come from .env)."""
        first_centrifugo = self.layout.of_kind("centrifugo")[0]
        env = {
            "DJANGO_SETTINGS_MODULE": self.settings_module,
            "DATABASE_URL": self.database_url(pooled=pooled, application_name=application_name),
            "DB_BEHIND_TRANSACTION_POOLER": "true" if pooled else "false",
            "REDIS_URL": self.redis_url(BROKER_NODE, db=1),
            "SITE_URL": self.site_url,
            # nginx in front sets X-Forwarded-For: throttles and lockouts count client addresses.
            "TRUSTED_PROXY_COUNT": "1",
            # nginx sends the site's host; a health check or a test calls a node by its address.
            "DJANGO_ALLOWED_HOSTS": ",".join(["localhost", "127.0.0.1", *(n.address for n in self.layout.nodes)]),
            "CENTRIFUGO_ENGINE": "redis",
            "CENTRIFUGO_API_URL": self.centrifugo_api_url(first_centrifugo),
            "CENTRIFUGO_WS_URL": "",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.smtp_port),
            "USER_REPORT_PATH": str(self.state_dir / "reports" / "users.csv"),
            "PYTHONUNBUFFERED": "1",
        }
        return env | self.extra_env

    def programs(self) -> list[Program]:
        from ops.centrifugo import node_environment
        from ops.serving import asgi_command, asgi_environment, wsgi_command, wsgi_environment

        layout, state = self.layout, self.state_dir
        venv = Path(sys.executable).parent
        programs: list[Program] = []
        # Redis first (everything else talks to it), then PgBouncer and the relay.
        for node in layout.of_kind("redis"):
            data = state / node.name
            data.mkdir(parents=True, exist_ok=True)
            command = ["redis-server", "--bind", node.address, "--port", str(REDIS_PORT), "--dir", str(data)]
            command += ["--appendonly", "yes", "--save", "", "--protected-mode", "yes", "--daemonize", "no"]
            # The password on the command line would show in `ps`: Redis reads it from a file.
            command = [*command[:1], str(self.redis_conf_write(node)), *command[1:]]
            programs.append(Program(node.name, layout.in_node(node, command), options={"priority": "100"}))
        programs.append(
            Program(
                "pgbouncer", ["pgbouncer", "-u", "postgres", str(self.pgbouncer_write())], options={"priority": "100"}
            )
        )
        db = self._database()
        if layout.isolated:
            # PostgreSQL listens on loopback only; the nodes reach it through this relay, one
            # TCP connection per client connection: a real session, as LISTEN needs.
            relay = [
                "socat",
                f"TCP-LISTEN:{db.get('PORT') or 5432},bind={layout.host_address},fork,reuseaddr",
                f"TCP:{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}",
            ]
            programs.append(Program("postgres-relay", relay, options={"priority": "100"}))
        # The processes of one node split its cores, as one machine's nodes do.
        go = [f"{key}={value}" for key, value in node_environment(self.centrifugo_processes()).items()]
        for node, process, name in self.centrifugo_instances():
            config = self.centrifugo_write(node, process)
            # A clean environment: Centrifugo reads CENTRIFUGO_* variables as config.
            command = ["env", "-i", "PATH=/usr/bin:/bin", *go, str(_centrifugo_binary()), "--config", str(config)]
            programs.append(Program(name, layout.in_node(node, command), options={"directory": str(config.parent)}))
        for node in layout.of_kind("web"):
            command = wsgi_command(port=WEB_PORT, host=node.address, workers=1)
            env = self.django_environment(pooled=True, application_name=node.name) | wsgi_environment()
            programs.append(Program(node.name, layout.in_node(node, command), env))
        for node in layout.of_kind("feed"):
            command = asgi_command(port=FEED_PORT, host=node.address)
            env = self.django_environment(pooled=False, application_name=node.name) | asgi_environment()
            programs.append(Program(node.name, layout.in_node(node, command), env))
        celery = [str(venv / "celery"), "-A", "messenger"]
        no_pool = {"DB_POOL_MAX_SIZE": "0"}
        for node in layout.of_kind("worker"):
            queues = WORKER_QUEUES[node.name]
            command = [*celery, "worker", "-Q", queues, "-P", "prefork", "-c", "2", "-E", "-n", f"{node.name}@cluster"]
            env = self.django_environment(pooled=True, application_name=node.name) | no_pool
            programs.append(Program(node.name, layout.in_node(node, command), env, {"stopwaitsecs": "100"}))
        # Exactly one beat: this is its only [program:], on one node, numprocs 1 (supervisord's
        # default); a second node of this profile would get workers, never a beat.
        beat_node = layout.node(BEAT_NODE)
        beat = [*celery, "beat", "-S", "django_celery_beat.schedulers:DatabaseScheduler"]
        beat += ["--pidfile", str(state / "run" / "celerybeat.pid"), "-s", str(state / "celerybeat-schedule")]
        env = self.django_environment(pooled=True, application_name="beat") | no_pool
        programs.append(Program("beat", layout.in_node(beat_node, beat), env))
        smtp = [str(venv / "python"), "-m", "ops.smtp_sink", "--port", str(self.smtp_port)]
        smtp += ["--dir", str(state / "mail")]
        programs.append(Program("smtp", layout.in_node(layout.node(SMTP_NODE), smtp), {"EMAIL_HOST": "127.0.0.1"}))
        programs.append(Program("nginx", self.nginx_command(), options={"stopsignal": "QUIT", "priority": "900"}))
        return programs

    def nginx_command(self) -> list[str]:
        from django.conf import settings

        from ops.serving import nginx_command, nginx_config_write

        layout = self.layout
        conf = nginx_config_write(
            prefix=self.state_dir / "nginx",
            log_dir=self.state_dir / "log",
            listen_port=self.web_port,
            static_root=self.static_root or settings.STATIC_ROOT,
            wsgi_servers=[f"{n.address}:{WEB_PORT}" for n in layout.of_kind("web")],
            asgi_servers=[f"{n.address}:{FEED_PORT}" for n in layout.of_kind("feed")],
            centrifugo_servers=[
                f"{node.address}:{CENTRIFUGO_PORT + CENTRIFUGO_PROCESS_PORT_STEP * process}"
                for node, process, _ in self.centrifugo_instances()
            ],
        )
        return nginx_command(prefix=conf.parent, log_dir=self.state_dir / "log")

    def centrifugo_write(self, node: Node, process: int = 0) -> Path:
        from ops.centrifugo import config_write, outbox_overrides

        name = node.name if process == 0 else f"{node.name}_{process + 1}"
        step = CENTRIFUGO_PROCESS_PORT_STEP * process
        path = self.state_dir / name / "config.json"
        return config_write(
            path,
            node_name=name,
            chat_presence=True,
            address=node.address,
            internal_address=node.address,
            port=CENTRIFUGO_PORT + step,
            internal_port=str(CENTRIFUGO_INTERNAL_PORT + step),
            engine="redis",
            redis_addresses=[self.redis_url(n.name) for n in self.layout.of_kind("redis")],
            redis_prefix=self.redis_prefix,
            database_dsn=self.database_url(pooled=False, application_name=node.name).split("&application_name")[0],
            site_origins=[self.site_url, self.site_url.replace("127.0.0.1", "localhost")],
            **outbox_overrides(process),
        )

    def redis_conf_write(self, node: Node) -> Path:
        """The node's Redis config file (0600): only the password, `requirepass`."""
        path = self.state_dir / node.name / "redis.conf"
        _private_write(path, f"requirepass {self.redis_password}\n")
        return path

    def pgbouncer_write(self) -> Path:
        """PgBouncer in transaction mode in front of the database; it drops root for the
        postgres user, so its files are readable by everyone but the password file."""
        import os
        import shutil

        db = self._database()
        directory = self.state_dir / "pgbouncer"
        directory.mkdir(parents=True, exist_ok=True)
        users = directory / "userlist.txt"
        _private_write(users, f'"{db["USER"]}" "{db["PASSWORD"]}"\n')
        ini = directory / "pgbouncer.ini"
        ini.write_text(
            "\n".join(
                [
                    "[databases]",
                    f"* = host={db.get('HOST') or '127.0.0.1'} port={db.get('PORT') or 5432}"
                    f" connect_query='{self._timeouts_sql()}'",
                    "[pgbouncer]",
                    f"listen_addr = {self.layout.host_address}",
                    f"listen_port = {self.pgbouncer_port}",
                    "unix_socket_dir =",
                    "auth_type = scram-sha-256",
                    f"auth_file = {users}",
                    # A server connection serves one transaction, then the next client's.
                    "pool_mode = transaction",
                    # Clients: every pooled Django connection of every node. Servers: what
                    # PostgreSQL actually runs, per database and user.
                    "max_client_conn = 2000",
                    "default_pool_size = 20",
                    "reserve_pool_size = 5",
                    # psycopg sends it; PgBouncer would refuse the connection otherwise.
                    "ignore_startup_parameters = extra_float_digits,options",
                    "server_reset_query =",
                    "logfile =",
                    "pidfile =",
                    "",
                ]
            )
        )
        if os.geteuid() == 0 and shutil.which("chown"):
            shutil.chown(users, user="postgres")
            users.chmod(0o600)
        return ini

    @staticmethod
    def _timeouts_sql() -> str:
        """Django's database timeouts (settings DB_*_TIMEOUT_MS), which it sends as the
        `options` startup parameter that PgBouncer 1.18 cannot pass on: set on each server
        connection instead."""
        from django.conf import settings

        timeouts = {
            "statement_timeout": settings.DB_STATEMENT_TIMEOUT_MS,
            "lock_timeout": settings.DB_LOCK_TIMEOUT_MS,
            "idle_in_transaction_session_timeout": settings.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
        }
        return "; ".join(f"SET {name} = {value}" for name, value in timeouts.items())

    def supervisord_write(self) -> Path:
        """supervisord's config for the cluster: the single-node template's own sections
        (supervisord, its socket, supervisorctl), then one program per process of every node."""
        from ops.serving import PROGRAM_DEFAULTS, SUPERVISORD_TEMPLATE, _fill, _with_program_defaults, max_open_files

        state = self.state_dir
        log_dir, run_dir = state / "log", state / "run"
        for directory in (log_dir, run_dir, state / "mail", state / "reports"):
            directory.mkdir(parents=True, exist_ok=True)
        from django.conf import settings

        template = SUPERVISORD_TEMPLATE.read_text()
        header = "".join(s for s in re.split(r"(?m)^(?=\[)", template) if not s.startswith("[program:"))
        values = {"root": settings.BASE_DIR, "log_dir": log_dir, "run_dir": run_dir, "max_files": max_open_files()}
        text = _fill(header, values) + "\n" + "\n".join(program.section() for program in self.programs())
        defaults = {key: value.format(log_dir=log_dir) for key, value in PROGRAM_DEFAULTS.items()}
        # Database and Redis passwords are in the programs' environments: owner only.
        _private_write(self.supervisord_conf, _with_program_defaults(text, defaults))
        return self.supervisord_conf


def _private_write(path: Path, text: str) -> None:
    """Writes a file that only its owner may read, from its creation on (no moment when it is
    readable by others, as a write then a chmod would leave)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def _centrifugo_binary() -> Path:
    from ops.centrifugo import centrifugo_binary

    return centrifugo_binary()


def plan(*, prefix: str, subnet: str) -> str:
    """Lines `namespace address` for scripts/cluster.sh, the host first."""
    layout = Layout.make(isolated=True, prefix=prefix, subnet=subnet)
    lines = [f"{prefix}host {layout.host_address}"]
    lines += [f"{node.namespace} {node.address}" for node in layout.nodes]
    return "\n".join(lines)


if __name__ == "__main__":
    import os

    if sys.argv[1:] == ["plan"]:
        print(
            plan(prefix=os.environ.get("CLUSTER_NS_PREFIX", "msg-"), subnet=os.environ.get("CLUSTER_SUBNET", "10.77.0"))
        )


def namespaces_up(*, prefix: str, subnet: str, loopback: bool = False) -> bool:
    """Makes the namespaces with scripts/cluster.sh; False when it fell back to loopback."""
    import os
    import subprocess

    from django.conf import settings

    env = os.environ | {
        "CLUSTER_NS_PREFIX": prefix,
        "CLUSTER_SUBNET": subnet,
        "CLUSTER_LOOPBACK": "1" if loopback else "0",
    }
    script = str(Path(settings.BASE_DIR) / "scripts" / "cluster.sh")
    out = subprocess.run([script, "up"], env=env, capture_output=True, text=True, check=False, timeout=60)  # noqa: S603
    if out.returncode != 0:
        raise RuntimeError(f"scripts/cluster.sh up ({prefix}, {subnet}) exited {out.returncode}: {out.stderr.strip()}")
    return out.stdout.strip().splitlines()[-1] == "namespaces"


def namespaces_down(*, prefix: str, subnet: str) -> None:
    import os
    import subprocess

    from django.conf import settings

    env = os.environ | {"CLUSTER_NS_PREFIX": prefix, "CLUSTER_SUBNET": subnet}
    script = str(Path(settings.BASE_DIR) / "scripts" / "cluster.sh")
    subprocess.run([script, "down"], env=env, capture_output=True, check=False, timeout=60)  # noqa: S603


def free_subnet(first: int = 200) -> tuple[str, str]:
    """A (prefix, subnet) pair for a cluster of tests or benchmarks next to `make run-cluster`
    (msg-, 10.77.0): a 10.x.0, x from `first` on, that this host does not route yet. The look
    and the namespaces' creation are not one step: callers that may run at once (two processes
    of make test) start from different `first`s."""
    import subprocess

    routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=False).stdout  # noqa: S607
    for octet in range(first, 250):
        if f"10.{octet}.0." not in routes:
            return f"mt{octet}-", f"10.{octet}.0"
    raise RuntimeError("no free 10.x.0.0/24 subnet for a test cluster")


class ClusterRun:
    """A cluster under its own supervisord, started and stopped by a test or a benchmark; each
    program is killed and started by name (`kill`, `start`)."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.process: Any = None

    def ctl(self, *args: str, check: bool = True) -> str:
        import subprocess

        supervisorctl = str(Path(sys.executable).parent / "supervisorctl")
        result = subprocess.run(  # noqa: S603 - our supervisorctl, our config
            [supervisorctl, "-c", str(self.config.supervisord_conf), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode not in (0,):
            raise RuntimeError(f"supervisorctl {' '.join(args)}: {result.stdout}{result.stderr}")
        return result.stdout

    def start_all(self, timeout: float = 120) -> "ClusterRun":
        import os
        import subprocess
        import time

        import httpx

        conf = self.config.supervisord_write()
        env = {key: value for key, value in os.environ.items() if not key.startswith("CENTRIFUGO_")}
        log = (self.config.state_dir / "supervisord.out").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our supervisord
            [str(Path(sys.executable).parent / "supervisord"), "-c", str(conf)], env=env, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready(httpx):
                return self
            if self.process.poll() is not None:
                raise RuntimeError("supervisord exited")
            time.sleep(0.5)
        raise RuntimeError(f"cluster not ready after {timeout:.0f}s: {self.ctl('status', check=False)}")

    def ready(self, httpx: Any) -> bool:
        layout, config = self.config.layout, self.config
        urls = [f"{config.site_url}/readyz"]
        urls += [f"{config.url(node)}/healthz" for node in layout.of_kind("web") + layout.of_kind("feed")]
        urls += [
            f"http://{node.address}:{CENTRIFUGO_INTERNAL_PORT + CENTRIFUGO_PROCESS_PORT_STEP * process}/health"
            for node, process, _ in config.centrifugo_instances()
        ]
        try:
            return all(httpx.get(url, timeout=2).status_code == 200 for url in urls)
        except httpx.HTTPError:
            return False

    def kill(self, name: str) -> None:
        """SIGKILL, then kept down. supervisord starts a killed program again at once; the
        `stop` that keeps it down would wait for the new one's graceful shutdown (a Celery
        worker still booting takes long), so that one is killed too while `stop` waits."""
        import threading
        import time

        self.ctl("signal", "KILL", name, check=False)
        stop = threading.Thread(target=self.ctl, args=("stop", name), kwargs={"check": False})
        stop.start()
        while stop.is_alive():
            time.sleep(0.5)
            self.ctl("signal", "KILL", name, check=False)
        stop.join()

    def start(self, name: str) -> None:
        self.ctl("start", name)

    def restart(self, name: str) -> None:
        self.ctl("restart", name)

    def stop_all(self) -> None:
        from ops.processes import process_stop

        if self.process is not None:
            self.ctl("shutdown", check=False)
            process_stop(self.process, timeout=60)
            self.process = None
