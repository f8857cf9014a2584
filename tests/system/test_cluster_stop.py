"""`make stop-cluster` (scripts/cluster.sh stop) returns only when every process of the
cluster has exited, then removes the namespaces: a program slow to die, one that ignores
TERM and one that left its program's process group are all gone afterwards.

A small supervisord of its own with three programs in the cluster's namespaces stands in
for the whole cluster (tests/system/test_cluster.py starts the real one, slowly)."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from ops.cluster import Layout, free_subnet

SCRIPT = Path(settings.BASE_DIR) / "scripts" / "cluster.sh"
SUPERVISORD = Path(sys.executable).parent / "supervisord"


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _with_marker(marker: str) -> list[int]:
    """Pids of the processes whose command line holds the marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_stop_waits_for_every_process_then_removes_the_namespaces(tmp_path):
    prefix, subnet = free_subnet(first=230)  # not the cluster suite's (it may run at the same time)
    prefix = f"s{prefix}"
    env = os.environ | {"CLUSTER_NS_PREFIX": prefix, "CLUSTER_SUBNET": subnet, "CLUSTER_STATE_DIR": str(tmp_path)}
    up = subprocess.run([str(SCRIPT), "up"], env=env, capture_output=True, text=True, timeout=60, check=False)
    if up.stdout.strip().splitlines()[-1:] != ["namespaces"]:
        pytest.skip(f"no network namespaces here: {up.stdout}{up.stderr}")
    layout = Layout.make(isolated=True, prefix=prefix, subnet=subnet)
    first, second, third = (node.namespace for node in layout.nodes[:3])
    marker = f"{uuid.uuid4().int % 10**6 + 10**6}"  # a sleep length no one else uses
    run = tmp_path / "run"
    run.mkdir()
    programs = {
        # Takes 3 s to stop after TERM.
        "slow": f"ip netns exec {first} sh -c 'trap \"sleep 3; exit 0\" TERM; while :; do sleep 0.{marker}; done'",
        # Ignores TERM: supervisord must KILL it after stopwaitsecs.
        "stubborn": f"ip netns exec {second} sh -c 'trap \"\" TERM; while :; do sleep 0.{marker}; done'",
        # Leaves a child in a session of its own, which supervisord never signals.
        "escaped": f"ip netns exec {third} sh -c 'setsid sleep {marker} & exec sleep {marker}'",
    }
    sections = "".join(
        f"[program:{name}]\ncommand={command}\nstopasgroup=true\nkillasgroup=true\nstopwaitsecs=2\nstartsecs=1\n"
        for name, command in programs.items()
    )
    (tmp_path / "supervisord.conf").write_text(
        f"[supervisord]\nnodaemon=true\nlogfile={tmp_path}/supervisord.log\npidfile={run}/supervisord.pid\n"
        f"[unix_http_server]\nfile={run}/supervisor.sock\nchmod=0700\n"
        f"[supervisorctl]\nserverurl=unix://{run}/supervisor.sock\n"
        "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        + sections
    )
    supervisord = subprocess.Popen([str(SUPERVISORD), "-c", str(tmp_path / "supervisord.conf")])
    try:
        deadline = time.monotonic() + 30
        while len(_with_marker(marker)) < 4 and time.monotonic() < deadline:  # escaped counts twice
            time.sleep(0.2)
        assert len(_with_marker(marker)) >= 4, "the programs did not start"

        stop = subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120, check=False)
        assert stop.returncode == 0, stop.stderr

        # The moment it returns: no process left, supervisord gone, namespaces removed.
        assert _with_marker(marker) == []
        assert supervisord.poll() is not None
        assert not {ns for ns in _namespaces() if ns.startswith(prefix)}
    finally:
        if supervisord.poll() is None:
            supervisord.kill()
        for pid in _with_marker(marker):
            os.kill(pid, 9)
        subprocess.run([str(SCRIPT), "down"], env=env, capture_output=True, timeout=60, check=False)
