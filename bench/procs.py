"""What the benchmarks read from /proc: CPU seconds, run-queue waits and memory of processes
and their trees, and the machine's CPU pressure."""

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        # The command name may hold spaces and parentheses: split after the last ")".
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pids: list[int], *, children: bool = False) -> float:
    """utime + stime (and, with `children`, the reaped children's) of the processes."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is None:
            continue
        total += int(fields[11]) + int(fields[12])
        if children:
            total += int(fields[13]) + int(fields[14])
    return total / CLOCK_TICKS


def run_queue_wait_seconds(pids: list[int]) -> float:
    """How long the processes' threads were ready to run but waited for a CPU (the second
    field of each thread's schedstat). A thread that has exited takes its wait with it."""
    total = 0
    for pid in pids:
        for schedstat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                total += int(schedstat.read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9


def cpu_pressure_seconds() -> float | None:
    """How long, in all, at least one task of the machine waited for a CPU (the kernel's
    pressure stall information, /proc/pressure/cpu's `some` total); None without it."""
    try:
        some = Path("/proc/pressure/cpu").read_text().split("\n", 1)[0]
        return int(some.rsplit("total=", 1)[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return None


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (nginx's and granian's workers, PostgreSQL's backends)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def tree(pid: int) -> list[int]:
    """`pid` and its children (one level: the servers here fork workers, not grandchildren)."""
    return [pid, *children_of(pid)]


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of the processes, summed (shared pages counted in each)."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
        except (OSError, IndexError, ValueError):
            continue
    return total


def postgres_master(state_dir: Path) -> int | None:
    try:
        return int((state_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def postgres_cpu(state_dir: Path) -> float:
    """The whole PostgreSQL cluster: the postmaster with its reaped children (backends that
    exited) plus the live ones. Shared with anything else using that server."""
    master = postgres_master(state_dir)
    if master is None:
        return float("nan")
    return cpu_seconds([master], children=True) + cpu_seconds(children_of(master))


def postgres_backends(state_dir: Path, database: str) -> list[int]:
    """The live backends connected to `database`: PostgreSQL titles each process
    `postgres: <user> <database> <client> <state>`. Other work on the same cluster (other
    databases) stays out of the figure."""
    master = postgres_master(state_dir)
    if master is None:
        return []
    found = []
    for pid in children_of(master):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f" {database} " in f" {title} ":
            found.append(pid)
    return found


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, at any depth (uvicorn's supervisor and its workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found
