"""The cluster profile's rendered files are locked down (issue 18), checked without starting
it: Redis asks for a password and keeps protected mode on, the password stays out of command
lines, every file holding a secret is its owner's alone from its creation, and the Django
processes trust nginx's X-Forwarded-For (throttles and lockouts see client addresses)."""

import os
import re
import stat

import pytest
import redis
from django.db import connection

from ops.cluster import ClusterConfig, Layout


@pytest.fixture
def config(tmp_path, db) -> ClusterConfig:
    return ClusterConfig(
        layout=Layout.make(isolated=True, prefix="cfgtest-", subnet="10.250.0"),
        state_dir=tmp_path,
        web_port=18900,
        database=dict(connection.settings_dict),
    )


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_are_the_owners_alone_and_redis_needs_its_password(config):
    conf = config.supervisord_write()
    text = conf.read_text()
    assert _mode(conf) == 0o600
    password = config.redis_password
    assert len(password) >= 24 and _mode(config.state_dir / "redis.password") == 0o600
    assert _mode(config.state_dir / "pgbouncer" / "userlist.txt") == 0o600
    for name in ("redis1", "redis2"):
        [command] = re.findall(rf"(?ms)^\[program:{name}\]\ncommand=(.*?)$", text)
        assert "--protected-mode yes" in command and password not in command
        redis_conf = config.state_dir / name / "redis.conf"
        assert redis_conf.read_text() == f"requirepass {password}\n" and _mode(redis_conf) == 0o600
    # Every client of Redis authenticates: Celery, Django's cache, Centrifugo's engine.
    env = config.django_environment(pooled=True, application_name="web1")
    assert env["REDIS_URL"].startswith(f"redis://:{password}@")
    centrifugo = config.centrifugo_write(config.layout.node("centrifugo1")).read_text()
    assert f"redis://:{password}@" in centrifugo
    # The password is made once per cluster.
    assert config.redis_password == password


def test_only_each_hosts_first_centrifugo_process_is_woken_to_read_the_outbox(config):
    """Each host's first process LISTENs (a host lost delays nothing); its others poll."""
    import json

    node = config.layout.node("centrifugo1")
    channels = [
        json.loads(config.centrifugo_write(node, process).read_text())["consumers"][0]["postgresql"][
            "partition_notification_channel"
        ]
        for process in (0, 1)
    ]
    assert channels == ["centrifugo_outbox", ""]


def test_django_trusts_nginx_for_client_addresses(config):
    env = config.django_environment(pooled=True, application_name="web1")
    assert env["TRUSTED_PROXY_COUNT"] == "1"
    text = config.supervisord_write().read_text()
    assert (
        text.count('TRUSTED_PROXY_COUNT="1"')
        == len([n for n in config.layout.nodes if n.kind in ("web", "feed", "worker")]) + 1
    )  # and beat


def test_a_redis_started_with_the_rendered_config_refuses_without_the_password(config, tmp_path):
    """The rendered Redis command, on loopback: protected mode on and a password required."""
    import subprocess

    from testing.processes import free_port, process_stop, wait_until

    node = config.layout.node("redis1")
    config_path = config.redis_conf_write(node)
    port = free_port()
    data = tmp_path / "redis-data"
    data.mkdir()
    command = ["redis-server", str(config_path), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data)]
    process = subprocess.Popen([*command, "--save", "", "--protected-mode", "yes"], stdout=subprocess.DEVNULL)
    try:
        anonymous = redis.Redis(port=port, socket_timeout=2)
        wait_until(lambda: _answers(anonymous), timeout=10, what="redis")
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        assert redis.Redis(port=port, password=config.redis_password).ping()
        assert redis.Redis(port=port, password=config.redis_password).config_get("protected-mode") == {
            "protected-mode": "yes"
        }
    finally:
        process_stop(process)


def _answers(client) -> bool:
    try:
        client.ping()
    except redis.AuthenticationError:
        return True
    except redis.ConnectionError:
        return False
    return True


@pytest.mark.parametrize(("websockets", "processes"), [(20_000, 1), (50_000, 2)])
def test_centrifugo_nodes_run_enough_processes_for_the_profiles_websockets(
    config, settings, monkeypatch, websockets, processes
):
    """Each Centrifugo node runs as many processes as EDGE_MAX_WEBSOCKETS needs with a
    descriptor per client and at most 20,000 per process; nginx lists every one of them and
    has workers for two connections per WebSocket."""
    import json

    import ops.serving

    monkeypatch.setattr(ops.serving, "max_open_files", lambda: 20_000)
    settings.EDGE_MAX_WEBSOCKETS, settings.CENTRIFUGO_CONNECTION_LIMIT = websockets, 0
    text = config.supervisord_write().read_text()
    names = re.findall(r"^\[program:(centrifugo\w*)\]", text, re.M)
    assert config.centrifugo_processes() == processes and len(names) == 2 * processes
    # The processes of one node split its cores (GOMAXPROCS); a node's only process keeps Go's default.
    commands = re.findall(r"^\[program:centrifugo\w*\]\ncommand=(.*)$", text, re.M)
    go = f"GOMAXPROCS={max(1, len(os.sched_getaffinity(0)) // processes)}"
    assert [go in command for command in commands] == [processes > 1] * len(commands)
    limits, ports = [], set()
    for node, _process, name in config.centrifugo_instances():
        rendered = json.loads((config.state_dir / name / "config.json").read_text())
        assert rendered["node"]["name"] == name and rendered["engine"]["type"] == "redis"
        limits.append(rendered["client"]["connection_limit"])
        ports.add((node.address, rendered["http_server"]["port"]))
        assert rendered["http_server"]["internal_port"] == str(rendered["http_server"]["port"] + 1000)
    assert sum(limits) >= websockets and max(limits) < 20_000
    nginx = (config.state_dir / "nginx" / "nginx.conf").read_text()
    upstream = re.search(r"upstream centrifugo \{(.*?)\}", nginx, re.S).group(1)
    assert set(re.findall(r"server ([\d.]+):(\d+)", upstream)) == {(a, str(p)) for a, p in ports}
    workers = int(re.search(r"^worker_processes (\d+);", nginx, re.M).group(1))
    connections = int(re.search(r"worker_connections (\d+);", nginx).group(1))
    assert workers * connections >= 2 * websockets and connections < 20_000
