"""REST API throughput: the old single uvicorn against nginx + granian, side by side.

    .venv/bin/python -m bench api-throughput                      # before vs after, 1/8/32 clients
    .venv/bin/python -m bench api-throughput --seconds 3 --rounds 1
    .venv/bin/python -m bench api-throughput --servers all --concurrency 8 32   # WSGI variants too

It creates a database of its own (bench_api, dropped at the end) and a chat of 10 members,
then, for each round, starts each server setting in turn and loads it with wrk (Debian's
`wrk`, a compiled client, so the load generator is not the bottleneck): `GET /healthz` and
`POST /api/chats/<id>/messages/` (each POST also writes its event and outbox row), for
--seconds at each concurrency. Rounds alternate the settings, so drift of a shared machine
hits all alike; the figures are medians over rounds. Prints requests/s, p50/p99 latency,
non-2xx answers and wrk's own CPU share, and writes bench/results/api_throughput.json.

Settings (--servers):
  before               uvicorn, one process, h11 + asyncio, a pool of 8 (the old Procfile's web)
  after                nginx + granian, one worker process per core with WSGI_THREADS threads
                       and a psycopg pool of as many connections (what `make run` runs:
                       ops/serving.py)
  with --servers all, also:
  gunicorn             nginx + gunicorn gthread as the site ran it before granian, the same
                       processes, threads and pool
  sync                 nginx + gunicorn sync workers, one per core, a persistent connection each
  sync+pool            the same with a psycopg pool of 1 per worker
  granian+persistent   granian with its default threads and a persistent connection each

  with --base REF, also:
  base                 as `after`, but the WSGI server runs the tree of commit REF (a temporary git
                       worktree): the same nginx, database and load, the code before a change

Each cell also reports the CPU seconds every server process spent per 2xx answer (web,
nginx, uvicorn, this database's PostgreSQL backends, Redis; from /proc, wrk excluded): on a
shared machine, throughput alone moves with the neighbours' load; CPU per request much less.
--centrifugo starts a Centrifugo behind each site setting, whose outbox consumer dispatches and
deletes each POST's event (its CPU and its PostgreSQL session counted too).
A POST cell of a tree with group commit (core.postgresql.group_commit) also reports its writes
per transaction and the transactions that fell back to writes alone (the web server's /metrics).
--profile SECONDS records the WSGI server's workers with py-spy during the POST cell at the first
concurrency (collapsed stacks under bench/results/, not committed) and lists the frames
holding the GIL longest and the database's statements (pg_stat_statements), each in ms per
accepted POST; with --centrifugo also Centrifugo's functions by CPU (Go's profiler,
bench.go_profile). All go into the JSON too.

--endpoints adds `get` (GET .../messages/?limit=20, a read with token authentication);
--overload 256 then has 256 wrk connections POST for --seconds, each again as soon as it
is answered, and counts the answers by status (the target: no status >= 500 but 503, and
each answer, so each 503, within 100 ms).
"""

import argparse
import contextlib
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

from accounts.models import User
from accounts.services import token_create
from bench import procs
from bench.go_profile import Recording, pprof_start, pprof_top
from bench.measure import RESULTS, results_write, worktree
from chats.services import chat_create
from ops.serving import wsgi_command, wsgi_environment
from testing.processes import ServerProcess, django_environment
from testing.site import SiteServer, WsgiServer

DATABASE = "bench_api"
CORES = os.cpu_count() or 2
THREADS = settings.WSGI_THREADS


class CommandServer(ServerProcess):
    """A Django server process from a given command line (the settings compared here)."""

    def __init__(self, command: Callable[[int], list[str]], env: dict[str, str], log_path: Path) -> None:
        super().__init__(log_path=log_path)
        self._command = command
        self._env = env

    def command(self) -> list[str]:
        return self._command(self.port)

    def environment(self) -> dict[str, str]:
        name = f"bench-{self.port}"
        return django_environment(settings_module="messenger.settings.test", application_name=name) | self._env


class Running:
    """A started setting: the URL to load, how to stop it, its processes by role."""

    def __init__(self, url: str, stop: Callable[[], None], servers: dict[str, ServerProcess | None]) -> None:
        self.url = url
        self.stop = stop
        self.servers = servers

    def roles(self) -> dict[str, list[int]]:
        found = {}
        for name, server in self.servers.items():
            if server is not None and server.process is not None:
                found[name] = procs.tree(server.process.pid)
        return found


class Setting:
    """One way of serving the site: `start()` returns it running."""

    def __init__(self, name: str, start: Callable[[Path], Running]) -> None:
        self.name = name
        self._start = start

    def start(self, workdir: Path) -> Running:
        return self._start(workdir)


def _old_uvicorn(workdir: Path) -> Running:
    def command(port: int) -> list[str]:
        # As the old Procfile ran it; h11 and asyncio named, since uvicorn would now pick
        # httptools and uvloop by itself.
        line = [sys.executable, "-m", "uvicorn", "messenger.asgi:application", "--host", "127.0.0.1"]
        return [*line, "--port", str(port), "--no-access-log", "--loop", "asyncio", "--http", "h11"]

    server = CommandServer(command, {"DB_POOL_MAX_SIZE": "8"}, workdir / "uvicorn.log").start()
    return Running(server.url, server.stop, {"uvicorn": server})


WITH_CENTRIFUGO = False  # --centrifugo
PROFILING = False  # --profile: Centrifugo with Go's profiler on (bench.go_profile)


def _site(web: Callable[[Path], ServerProcess] | None = None) -> Callable[[Path], Running]:
    def start(workdir: Path) -> Running:
        site = SiteServer(workdir=workdir, wsgi_workers=CORES, web=web(workdir) if web else None)
        centrifugo = None
        if WITH_CENTRIFUGO:  # its outbox consumer dispatches (and deletes) each POST's event
            from testing.centrifugo import CentrifugoServer

            centrifugo = CentrifugoServer(
                origin=site.url,
                log_level="warn",
                workdir=workdir / "centrifugo",
                port=site.centrifugo_port,
                internal_port=site.centrifugo_internal_port,
                debug=PROFILING,
            )
            centrifugo.start()
        try:
            site.start()
        except BaseException:
            if centrifugo:
                centrifugo.stop()
            raise

        def stop() -> None:
            site.stop()
            if centrifugo:
                centrifugo.stop()

        servers = {"web": site.web, "uvicorn": site.feed, "nginx": site.nginx, "centrifugo": centrifugo}
        return Running(site.url, stop, servers)

    return start


BASE_TREE: Path | None = None  # --base: the earlier commit's tree


def _gunicorn_command(port: int, *, worker_class: str = "gthread", threads: int | None = None) -> list[str]:
    """gunicorn as the site ran it before granian (ops/serving.py until 2026-12-06)."""
    line = [sys.executable, "-m", "gunicorn", "messenger.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    line += ["--workers", str(CORES), "--worker-class", worker_class, "--backlog", "2048", "--keep-alive", "75"]
    line += ["--timeout", "30", "--no-control-socket"]
    return [*line, "--threads", str(threads)] if threads else line


def _base_web(workdir: Path) -> ServerProcess:
    """The WSGI server as `after`, its code from BASE_TREE (first on sys.path); gunicorn as
    it was for a tree from before granian."""
    served = "def served_application" in (BASE_TREE / "messenger" / "wsgi.py").read_text()
    if served:
        # Run from the base tree: granian puts the directory it runs in first on sys.path,
        # ahead of its --working-dir (until 2026-12-07 both settings served this tree).
        server = WsgiServer(workers=CORES, log_path=workdir / "wsgi.log")
        server.command = lambda: wsgi_command(port=server.port, workers=CORES)
        server.working_dir = BASE_TREE
        return server

    def command(port: int) -> list[str]:
        return [*_gunicorn_command(port, threads=THREADS), "--chdir", str(BASE_TREE)]

    return CommandServer(command, wsgi_environment(), workdir / "gunicorn.log")


PERSISTENT = {"DB_POOL_MAX_SIZE": "0", "DB_CONN_MAX_AGE": "600"}
POOL_OF_ONE = {"DB_POOL_MAX_SIZE": "1", "DB_CONN_MAX_AGE": "0"}


def _gunicorn(workdir: Path, env: dict[str, str], worker_class: str, threads: int | None = None) -> ServerProcess:
    command = lambda port: _gunicorn_command(port, worker_class=worker_class, threads=threads)  # noqa: E731
    return CommandServer(command, env, workdir / "gunicorn.log")


def _granian_persistent(workdir: Path) -> ServerProcess:
    def command(port: int) -> list[str]:
        line = wsgi_command(port=port, workers=CORES)
        del line[line.index("--blocking-threads") : line.index("--blocking-threads") + 2]  # granian's default
        return line

    return CommandServer(command, PERSISTENT, workdir / "wsgi.log")


SETTINGS = {
    "before": Setting("uvicorn, 1 process (before)", _old_uvicorn),
    "after": Setting(f"nginx + granian {CORES}x{THREADS}, pool (after)", _site()),
    "gunicorn": Setting(
        f"nginx + gunicorn gthread {CORES}x{THREADS}, pool",
        _site(lambda w: _gunicorn(w, wsgi_environment(), "gthread", THREADS)),
    ),
    "sync": Setting(f"nginx + gunicorn sync x{CORES}, persistent", _site(lambda w: _gunicorn(w, PERSISTENT, "sync"))),
    "sync+pool": Setting(f"nginx + gunicorn sync x{CORES}, pool", _site(lambda w: _gunicorn(w, POOL_OF_ONE, "sync"))),
    "granian+persistent": Setting(f"nginx + granian x{CORES}, persistent", _site(_granian_persistent)),
    "base": Setting("nginx + granian, base tree (before)", _site(_base_web)),
}

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def redis_pid() -> int | None:
    try:
        return int((Path(settings.STATE_DIR) / "redis" / "redis.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cpu_snapshot(running: Running) -> dict[str, float]:
    """CPU seconds so far of each server role, this database's PostgreSQL backends and Redis."""
    cpu = {name: procs.cpu_seconds(pids) for name, pids in running.roles().items()}
    cpu["postgres"] = procs.cpu_seconds(procs.postgres_backends(Path(settings.STATE_DIR), DATABASE))
    redis = redis_pid()
    if redis:
        cpu["redis"] = procs.cpu_seconds([redis])
    cpu["machine"] = procs.machine_cpu_seconds()
    return cpu


def wrk(url: str, *, concurrency: int, seconds: float, script: Path | None, running: Running | None = None) -> dict:
    """One wrk run; its figures and its own CPU time (user + system) as a share of the machine.
    With `running`, also the CPU milliseconds each server role spent per 2xx answer."""
    command = ["wrk", "-t", str(min(concurrency, 2)), "-c", str(concurrency), "-d", f"{seconds:g}s", "--latency"]
    command += ["--timeout", "10s"] + (["-s", str(script)] if script else []) + [url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    servers_before = cpu_snapshot(running) if running else {}
    started = time.monotonic()
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    elapsed = time.monotonic() - started
    servers_after = cpu_snapshot(running) if running else {}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    latency = dict(re.findall(r"^\s+(50|90|99)(?:\.000)?%\s+(\S+)\s*$", output, re.M))
    if "99" not in latency:
        raise RuntimeError(f"wrk printed no latency distribution:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    statuses = {code: int(count) for code, count in re.findall(r"^status (\d+) (\d+)$", output, re.M)}
    total, duration = re.search(r"(\d+) requests in ([\d.]+\w+),", output).groups()
    non_2xx = int(non_2xx.group(1)) if non_2xx else 0
    ok = int(total) - non_2xx
    per_ok = {}
    if running and ok:
        spent = {k: servers_after[k] - servers_before.get(k, 0) for k in servers_after}
        machine = spent.pop("machine")
        per_ok = {f"cpu_ms_{k}": 1000 * v / ok for k, v in spent.items()}
        per_ok["cpu_ms_servers"] = 1000 * sum(spent.values()) / ok
        # Everything the machine did (neighbours included): the load the figures were taken under.
        per_ok["machine_busy_share"] = machine / (elapsed * CORES)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        # Answered with 2xx: what was served, not refused.
        "ok_per_s": (int(total) - non_2xx) / (_ms(duration) / 1000),
        "max_ms": _ms(re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", output, re.M).group(1)),
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "non_2xx": non_2xx,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "wrk_cpu_share": cpu / (elapsed * CORES),
        **{f"status_{code}": count for code, count in statuses.items()},
        **per_ok,
    }


def wrk_script(workdir: Path, tokens: list[str], *, post: bool) -> Path:
    """A wrk script: each request with the next member's token; POST a message, or GET.
    It counts the answers by status and prints them at the end (`status <code> <count>`)."""
    script = workdir / ("post.lua" if post else "get.lua")
    body = 'wrk.method = "POST"\nwrk.body = \'{"text": "bench"}\'\n' if post else ""
    script.write_text(
        "local tokens = {" + ", ".join(f'"{t}"' for t in tokens) + "}\n"
        "local n = 0\n" + body + 'wrk.headers["Content-Type"] = "application/json"\n'
        "request = function()\n"
        "  n = n + 1\n"
        '  wrk.headers["Authorization"] = "Token " .. tokens[(n % #tokens) + 1]\n'
        "  return wrk.format()\n"
        "end\n"
        # One global per status: wrk can read numbers, not tables, out of its threads.
        "response = function(status, headers, body)\n"
        '  local name = "status_" .. status\n'
        "  _G[name] = (_G[name] or 0) + 1\n"
        "end\n"
        "local threads = {}\n"
        "setup = function(thread) table.insert(threads, thread) end\n"
        "done = function(summary, latency, requests)\n"
        "  for _, code in ipairs({200, 201, 400, 401, 404, 413, 429, 500, 502, 503, 504}) do\n"
        "    local total = 0\n"
        '    for _, thread in ipairs(threads) do total = total + (thread:get("status_" .. code) or 0) end\n'
        '    if total > 0 then io.write(string.format("status %d %d\\n", code, total)) end\n'
        "  end\n"
        "end\n"
    )
    return script


def cpu_text(cell: dict) -> str:
    """`2.10 (web 1.40, postgres 0.50, ...)`: CPU ms per 2xx answer, all and by role."""
    if "cpu_ms_servers" not in cell:
        return "-"
    roles = sorted((k[7:], v) for k, v in cell.items() if k.startswith("cpu_ms_") and k != "cpu_ms_servers")
    return f"{cell['cpu_ms_servers']:.2f} (" + ", ".join(f"{k} {v:.2f}" for k, v in roles) + ")"


def group_commit_figures(running: Running) -> dict[str, float] | None:
    """Group commit's counters so far (core.metrics), from the WSGI server's own port; None where
    the tree served has none (an earlier commit)."""
    server = running.servers.get("web")
    if server is None or not getattr(server, "port", None):
        return None
    try:
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    names = ("messenger_group_commit_writes_count", "messenger_group_commit_writes_sum")
    names += ("messenger_group_commit_fallbacks_total",)
    found = {name: 0.0 for name in names}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] += float(value)
    return found if found["messenger_group_commit_writes_count"] else None


def group_commit_cell(before: dict[str, float] | None, after: dict[str, float] | None) -> dict[str, float]:
    """Writes per transaction and fallbacks to writes alone during one cell."""
    if not before or not after:
        return {}
    transactions = after["messenger_group_commit_writes_count"] - before["messenger_group_commit_writes_count"]
    if not transactions:
        return {}
    return {
        "group_commit_writes_per_transaction": (
            after["messenger_group_commit_writes_sum"] - before["messenger_group_commit_writes_sum"]
        )
        / transactions,
        "group_commit_fallbacks": after["messenger_group_commit_fallbacks_total"]
        - before["messenger_group_commit_fallbacks_total"],
    }


def group_commit_text(cell: dict) -> str:
    if "group_commit_writes_per_transaction" not in cell:
        return ""
    per = cell["group_commit_writes_per_transaction"]
    return f" group commit {per:.2f} writes/transaction, {cell['group_commit_fallbacks']:.0f} fallbacks"


def profile_start(running: Running, out: Path, args: argparse.Namespace) -> tuple[subprocess.Popen, Path]:
    """py-spy sampling the WSGI server's workers (CPU only: idle threads are not sampled)."""
    master = running.servers["web"].process.pid
    command = ["py-spy", "record", "--pid", str(master), "--subprocesses", "--nonblocking", "--gil", "--rate", "200"]
    command += ["--format", "raw", "--duration", f"{min(args.profile, args.seconds):g}", "--output", str(out)]
    spy = Path(sys.executable).parent / "py-spy"
    command[0] = str(spy) if spy.exists() else "py-spy"
    out.parent.mkdir(exist_ok=True)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


def centrifugo_profile_start(running: Running, out: Path, args: argparse.Namespace) -> Recording | None:
    """Go's profiler sampling Centrifugo over the same seconds as py-spy (with --centrifugo)."""
    centrifugo = running.servers.get("centrifugo")
    if centrifugo is None:
        return None
    return pprof_start(centrifugo.internal_url, seconds=min(args.profile, args.seconds), out=out)


def statements(sql: str) -> str | None:
    """Runs `sql` on the cluster as its superuser (pg_stat_statements needs one), or None."""
    if os.geteuid() != 0:
        return None
    run_dir = Path(settings.STATE_DIR) / "run"
    port = str(connection.settings_dict["PORT"])
    command = ["runuser", "-u", "postgres", "--", "psql", "-h", str(run_dir), "-p", port, "-d", "postgres", "-qAtF|"]
    done = subprocess.run([*command, "-c", sql], capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else None


def statements_reset() -> None:
    statements("create extension if not exists pg_stat_statements; select pg_stat_statements_reset()")


def statements_top(*, posts: float, top: int = 8) -> list[dict]:
    """The statements of this database by total execution time: calls and exec ms per POST."""
    query = (
        "select calls, total_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) "
        "from pg_stat_statements s join pg_database d on d.oid = s.dbid where d.datname = '%s' "
        "order by total_exec_time desc limit %d"
    )
    rows = statements(query % (DATABASE, top))
    if not rows or not posts:
        print("pg_stat_statements: not available (shared_preload_libraries, superuser)")
        return []
    found = []
    print("pg_stat_statements, this database (calls per POST, exec ms per POST, statement):")
    for row in rows.splitlines():
        calls, total, query = row.split("|", 2)
        found.append({"calls_per_post": int(calls) / posts, "exec_ms_per_post": float(total) / posts, "query": query})
        print(f"  {int(calls) / posts:5.2f}  {float(total) / posts:6.3f}  {query}")
    return found


SAMPLE_MS = 5  # py-spy at 200 Hz


def profile_finish(spy: tuple[subprocess.Popen, Path], *, posts: float, top: int = 25) -> dict[str, list]:
    """The frames most GIL-holding samples were in (inclusive) and those that spent them
    (self), as ms of GIL per POST (samples x 5 ms / POSTs in the recorded seconds)."""
    process, out = spy
    process.wait(timeout=60)
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        total += int(count)
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + int(count)
    if not total or not posts:
        print("py-spy recorded nothing")
        return {}
    print(f"py-spy: {total} samples of the web workers holding the GIL, {total * SAMPLE_MS / posts:.2f} ms per POST")
    found: dict[str, list] = {"gil_ms_per_post": [total * SAMPLE_MS / posts]}
    for title, table in (("inclusive", inclusive), ("self", own)):
        print(f"  top {top} frames, {title} (% of samples, GIL ms per POST):")
        found[title] = []
        for frame, count in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            found[title].append([frame, round(count * SAMPLE_MS / posts, 3)])
            print(f"    {100 * count / total:5.1f}%  {count * SAMPLE_MS / posts:6.3f}  {frame}")
    return found


def population() -> tuple[int, list[str]]:
    users = [User.objects.create_user(f"bench{i}", f"bench{i}@example.com", "x") for i in range(10)]
    chat = chat_create(created_by=users[0], title="bench", member_ids=[u.pk for u in users[1:]])
    return chat.pk, [token_create(user=u) for u in users]


def main(argv: list[str] | None = None) -> None:
    # The production bound on a request's wait for a WSGI thread (test settings raise it
    # for a busy CI machine); the servers started here inherit it.
    os.environ.setdefault("REQUEST_QUEUE_TIMEOUT_MS", "75")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5, help="per endpoint, concurrency and setting")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--servers", nargs="+", default=["before", "after"], help="names, or all")
    parser.add_argument("--endpoints", nargs="+", default=["healthz", "post"], choices=["healthz", "post", "get"])
    parser.add_argument(
        "--overload", type=int, default=0, metavar="CLIENTS", help="then this many wrk connections POST for --seconds"
    )
    parser.add_argument("--base", metavar="REF", help="also serve commit REF's tree (the `base` setting)")
    parser.add_argument(
        "--cold", action="store_true", help="no warm-up: the first cell measures the servers' first seconds"
    )
    parser.add_argument("--centrifugo", action="store_true", help="with Centrifugo consuming the outbox (its CPU too)")
    parser.add_argument(
        "--profile", type=float, default=0, metavar="SECONDS", help="py-spy on the WSGI server (POST cell)"
    )
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk (scripts/setup.sh installs it)")
    names = list(SETTINGS) if args.servers == ["all"] else args.servers
    if args.base and "base" not in names:
        names.insert(0, "base")

    connection.settings_dict["TEST"]["NAME"] = DATABASE
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    workroot = Path(tempfile.mkdtemp(prefix="bench-api-"))
    global BASE_TREE, WITH_CENTRIFUGO, PROFILING
    WITH_CENTRIFUGO, PROFILING = args.centrifugo, bool(args.profile)
    trees = contextlib.ExitStack()
    if "base" in names:
        BASE_TREE = trees.enter_context(worktree(args.base or "main"))
        SETTINGS["base"].name = f"nginx + web, {args.base or 'main'} (before)"
    rounds: dict[str, list[dict]] = {name: [] for name in names}
    overloads: dict[str, list[dict]] = {name: [] for name in names}
    try:
        chat_id, tokens = population()
        messages = f"/api/chats/{chat_id}/messages/"
        endpoints = {
            "healthz": ("/healthz", None),
            "post": (messages, wrk_script(workroot, tokens, post=True)),
            "get": (f"{messages}?limit=20", wrk_script(workroot, tokens, post=False)),
        }
        endpoints = {name: endpoints[name] for name in args.endpoints}
        for number in range(args.rounds):
            for name in names:
                workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workroot))
                running = SETTINGS[name].start(workdir)
                url, stop = running.url, running.stop
                figures: dict[str, dict] = {}
                try:
                    # Warm up (pools filled, code paths run once) before anything is measured,
                    # unless the first seconds after a start are what is measured (--cold).
                    if not args.cold:
                        warm = endpoints.get("post") or next(iter(endpoints.values()))
                        wrk(f"{url}{warm[0]}", concurrency=8, seconds=2, script=warm[1])
                    for endpoint, (path, lua) in endpoints.items():
                        for concurrency in args.concurrency:
                            spy, go_spy = None, None
                            if args.profile and endpoint == "post" and concurrency == args.concurrency[0]:
                                spy = profile_start(running, RESULTS / f"profile-{name}-{number + 1}.txt", args)
                                pprof_out = RESULTS / f"pprof-{name}-{number + 1}.pb"
                                go_spy = centrifugo_profile_start(running, pprof_out, args)
                                statements_reset()
                            batching = group_commit_figures(running)
                            cell = wrk(
                                f"{url}{path}",
                                concurrency=concurrency,
                                seconds=args.seconds,
                                script=lua,
                                running=running,
                            )
                            cell |= group_commit_cell(batching, group_commit_figures(running))
                            if spy:
                                recorded = min(args.profile, args.seconds)
                                cell["profile"] = profile_finish(spy, posts=cell["ok_per_s"] * recorded)
                                if go_spy:
                                    cell["centrifugo_profile"] = pprof_top([go_spy], per=cell["ok_per_s"] * recorded)
                                cell["statements"] = statements_top(posts=cell["ok_per_s"] * args.seconds)
                            figures[f"{endpoint}@{concurrency}"] = cell
                            print(
                                f"round {number + 1}/{args.rounds} {SETTINGS[name].name:>38} {endpoint:>7} "
                                f"c={concurrency:<3} {cell['requests_per_s']:7.0f}/s (2xx {cell['ok_per_s']:.0f}/s) "
                                f"p50 {cell['p50_ms']:6.1f} ms "
                                f"p99 {cell['p99_ms']:6.1f} ms non-2xx {cell['non_2xx']} "
                                f"cpu/2xx {cpu_text(cell)} machine busy {cell.get('machine_busy_share', 0):.0%} "
                                f"wrk cpu {cell['wrk_cpu_share']:.0%}{group_commit_text(cell)}",
                                flush=True,
                            )
                    if args.overload:
                        # Past capacity: every answer must be a 201 or a quick 503.
                        lua = endpoints["post"][1] if "post" in endpoints else wrk_script(workroot, tokens, post=True)
                        cell = wrk(f"{url}{messages}", concurrency=args.overload, seconds=args.seconds, script=lua)
                        overloads[name].append(cell)
                        statuses = {key: value for key, value in cell.items() if key.startswith("status_")}
                        print(
                            f"round {number + 1}/{args.rounds} {SETTINGS[name].name:>38} overload "
                            f"c={args.overload} {cell['requests_per_s']:.0f}/s p50 {cell['p50_ms']:.1f} "
                            f"p99 {cell['p99_ms']:.1f} max {cell['max_ms']:.0f} ms {statuses} "
                            f"socket errors {cell['socket_errors']} wrk cpu {cell['wrk_cpu_share']:.0%}",
                            flush=True,
                        )
                finally:
                    stop()
                rounds[name].append(figures)
    finally:
        connection.creation.destroy_test_db(DATABASE, verbosity=0)
        trees.close()
        shutil.rmtree(workroot, ignore_errors=True)

    cells = list(rounds[names[0]][0])

    def medians(cells_of_rounds: list[dict]) -> dict:
        # A status may be in one round only; the profile's tables stay in their rounds.
        keys = dict.fromkeys(k for cell in cells_of_rounds for k, v in cell.items() if isinstance(v, int | float))
        return {key: statistics.median(cell.get(key, 0) for cell in cells_of_rounds) for key in keys}

    summary = {name: {cell: medians([r[cell] for r in results]) for cell in cells} for name, results in rounds.items()}
    overload_summary = {name: medians(cells) for name, cells in overloads.items() if cells}
    print(f"\nmedians over {args.rounds} alternating rounds of {args.seconds:g} s, {CORES} cores:")
    print(f"{'setting':>38} | {'endpoint':>11} | req/s  | 2xx/s  | p50 ms | p99 ms | non-2xx | wrk cpu | cpu ms/2xx")
    for name, figures in summary.items():
        for cell, f in figures.items():
            print(
                f"{SETTINGS[name].name:>38} | {cell:>11} | {f['requests_per_s']:6.0f} | {f['ok_per_s']:6.0f} | "
                f"{f['p50_ms']:6.1f} | "
                f"{f['p99_ms']:6.1f} | {f['non_2xx']:7.0f} | {f['wrk_cpu_share']:.0%} | {cpu_text(f)}"
                f"{group_commit_text(f)}"
            )
    for name, f in overload_summary.items():
        statuses = ", ".join(f"{key[7:]}: {value:.0f}" for key, value in f.items() if key.startswith("status_"))
        print(
            f"{SETTINGS[name].name:>38} | overload@{args.overload} | {f['requests_per_s']:6.0f} | "
            f"{f['ok_per_s']:6.0f} | {f['p50_ms']:6.1f} | "
            f"{f['p99_ms']:6.1f} | max {f['max_ms']:.0f} ms | {statuses} | socket errors {f['socket_errors']:.0f}"
        )
    results_write(
        "api_throughput",
        {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": CORES,
                "load_average": os.getloadavg(),
                "python": platform.python_version(),
                "max_in_flight": settings.WSGI_MAX_IN_FLIGHT,
            },
            "args": vars(args),
            "settings": {name: SETTINGS[name].name for name in names},
            "rounds": rounds,
            "medians": summary,
            "overload": overloads,
            "overload_medians": overload_summary,
        },
    )
