"""scripts/services.sh on a state directory of its own: PostgreSQL asks for a password (the
superuser only through the socket, by peer authentication), the app role is not a
superuser and owns the database; Redis asks for REDIS_PASSWORD. An older cluster (trusted
local connections, superuser `messenger`) is upgraded in place."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from testing.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
PG_PASSWORD, REDIS_PASSWORD = "pg-test-secret-1", "redis-test-secret-1"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="runs the cluster as postgres")]


class Services:
    def __init__(self, state: Path) -> None:
        self.state, self.pg_port, self.redis_port = state, free_port(), free_port()
        self.env = os.environ | {
            "MESSENGER_STATE_DIR": str(state),
            "MESSENGER_PG_PORT": str(self.pg_port),
            "MESSENGER_REDIS_PORT": str(self.redis_port),
            "POSTGRES_PASSWORD": PG_PASSWORD,
            "REDIS_PASSWORD": REDIS_PASSWORD,
            "DATABASE_URL": "",
            "REDIS_URL": "",
        }

    def run(self, command: str) -> str:
        result = subprocess.run(
            ["scripts/services.sh", command], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stderr

    def connect(self, user: str, password: str | None, host: str = "127.0.0.1", dbname: str = "messenger"):
        return psycopg.connect(
            host=host, port=self.pg_port, user=user, password=password, dbname=dbname, connect_timeout=5
        )

    def superuser_sql(self, sql: str, dbname: str = "messenger") -> str:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", "psql", "-h", str(self.state / "run"), "-p", str(self.pg_port),
             "-U", "postgres", "-d", dbname, "-tAc", sql],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return result.stdout.strip()


@pytest.fixture
def services() -> Iterator[Services]:
    # Not under pytest's base temp (0700 up the path): the postgres user must reach it.
    state = Path(tempfile.mkdtemp(prefix="services-", dir="/tmp"))
    state.chmod(0o755)
    services = Services(state)
    yield services
    services.run("stop")
    shutil.rmtree(state, ignore_errors=True)


def _assert_locked_down(services: Services) -> None:
    with services.connect("messenger_app", PG_PASSWORD) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreatedb, pg_get_userbyid(d.datdba) FROM pg_roles, pg_database d"
            " WHERE rolname = current_user AND d.datname = 'messenger'"
        ).fetchone()
    assert row == (False, True, "messenger_app")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        services.connect("messenger_app", "wrong")
    with pytest.raises(psycopg.OperationalError):
        services.connect("postgres", None)  # the superuser has no password: no TCP login
    with pytest.raises(psycopg.OperationalError, match="Peer authentication failed"):
        services.connect("messenger_app", PG_PASSWORD, host=str(services.state / "run"))
    assert services.superuser_sql("SELECT 'peer'") == "peer"

    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=services.redis_port).ping()
    assert redis.Redis(port=services.redis_port, password=REDIS_PASSWORD).ping()
    assert "redis-test-secret" not in subprocess.run(["ps", "axww"], capture_output=True, text=True).stdout


def test_a_fresh_state_is_password_protected(services):
    services.run("start")
    _assert_locked_down(services)
    assert "running" in services.run("start")  # a second start changes nothing


def test_an_older_cluster_is_upgraded_in_place(services):
    """The layout before this change: superuser `messenger` with the app's password, local
    connections trusted, Redis without a password; tables owned by `messenger`."""
    run, data = services.state / "run", services.state / "postgres"
    for path in (run, data):
        path.mkdir(parents=True)
        shutil.chown(path, "postgres")
    services.state.chmod(0o755)
    pwfile = services.state / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    pwfile.chmod(0o644)
    pg_bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]

    def as_postgres(*args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=60)

    as_postgres(str(pg_bin / "initdb"), "-D", str(data), "-U", "messenger", f"--pwfile={pwfile}",
                "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
    as_postgres(str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w", "-o",
                f"-c listen_addresses=127.0.0.1 -p {services.pg_port} -k {run}", "start")  # fmt: skip
    psql = ["psql", "-h", str(run), "-p", str(services.pg_port), "-U", "messenger", "-q"]
    as_postgres(*psql, "-d", "postgres", "-c", "CREATE DATABASE messenger", "-c", "CREATE DATABASE test_old")
    as_postgres(
        *psql, "-d", "messenger", "-c", "CREATE TABLE t (id bigserial PRIMARY KEY); CREATE VIEW v AS SELECT * FROM t"
    )
    subprocess.run(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(services.redis_port), "--daemonize", "yes",
         "--save", "", "--dir", str(services.state)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip

    log = services.run("start")

    assert "trust to peer" in log and "password now required" in log
    _assert_locked_down(services)
    assert services.superuser_sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'test_old'") == (
        "messenger_app"
    )
    # The old superuser is retired: it cannot sign in (initdb's bootstrap role stays a
    # superuser: PostgreSQL refuses to demote it).
    assert services.superuser_sql("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'messenger'") == "f"
    with pytest.raises(psycopg.OperationalError):
        services.connect("messenger", PG_PASSWORD)
    owners = services.superuser_sql("SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class"
                                    " WHERE relnamespace = 'public'::regnamespace")  # fmt: skip
    assert owners == "messenger_app"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        services.connect("messenger", PG_PASSWORD)  # the old superuser no longer signs in with it
