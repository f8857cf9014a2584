"""Centrifugo's CPU profile, the Go counterpart of py-spy for the web workers: Go's profiler
(pprof) on a node's internal port, which the bench turns on for its own Centrifugo only
(`CentrifugoServer(debug=True)`, the config's `debug`; every site's config leaves it off).

    recording = pprof_start(node.internal_url, seconds=12, out=path)  # in a thread; `after=` delays it
    ...the measured window...
    pprof_top([recording], per=messages)  # CPU ms per message, printed and returned

`go tool pprof` reads the profile with the binary's symbols (Go is on the machine: setup
builds Centrifugo with it).
"""

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

# `go tool pprof -top -cum` rows: flat, flat%, sum%, cum, cum%, function.
_ROW = re.compile(r"^\s*(\S+)\s+\S+%\s+\S+%\s+(\S+)\s+\S+%\s+(.+)$")
_TOTAL = re.compile(r"Total samples = (\S+)")
_DURATION = re.compile(r"^([\d.]+)(s|ms|us|µs)?$")
_MS = {"s": 1000.0, "ms": 1.0, "us": 0.001, "µs": 0.001, None: 0.0}


def _ms(text: str) -> float:
    """pprof's durations: `1.20s`, `30ms`, and `0` without a unit."""
    found = _DURATION.match(text)
    if found is None:
        raise ValueError(f"not a pprof duration: {text!r}")
    return float(found.group(1)) * _MS[found.group(2)]


@dataclass
class Recording:
    out: Path
    thread: threading.Thread
    errors: list[str]


def pprof_start(internal_url: str, *, seconds: float, out: Path, after: float = 0) -> Recording:
    """Starts a CPU profile of `seconds` on the node, `after` seconds from now (in a thread:
    the profiler answers once it has recorded)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []

    def fetch() -> None:
        time.sleep(after)
        try:
            answer = httpx.get(
                f"{internal_url}/debug/pprof/profile", params={"seconds": f"{seconds:g}"}, timeout=seconds + 30
            )
            answer.raise_for_status()
            out.write_bytes(answer.content)
        except httpx.HTTPError as error:
            errors.append(str(error))

    recording = Recording(out, threading.Thread(name="pprof", daemon=True, target=fetch), errors)
    recording.thread.start()
    return recording


def pprof_top(recordings: list[Recording], *, per: float, top: int = 30) -> dict[str, list]:
    """The functions Centrifugo's nodes spent most CPU in, inclusive (`-cum`), as ms per `per`
    (the messages accepted over the recorded seconds), every node's profile merged. Printed,
    and returned for the results' JSON."""
    from ops.centrifugo import centrifugo_binary  # Django's settings: configured by now

    for recording in recordings:
        recording.thread.join(timeout=120)
    files = [str(r.out) for r in recordings if r.out.exists() and not r.errors]
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not files or not per or not Path(go).exists():
        print(f"Centrifugo's profile: nothing recorded ({[e for r in recordings for e in r.errors] or 'no go'})")
        return {}
    command = [go, "tool", "pprof", "-top", "-cum", f"-nodecount={top}", str(centrifugo_binary()), *files]
    output = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120).stdout
    total = _TOTAL.search(output)
    if total is None:
        print(f"Centrifugo's profile: go tool pprof printed no samples:\n{output[-500:]}")
        return {}
    total_ms = _ms(total.group(1))
    print(f"Centrifugo (pprof, {len(files)} node(s)): {total_ms / per:.3f} CPU ms per message")
    print(f"  top {top} functions, inclusive (CPU ms per message):")
    rows = []
    for line in output.splitlines():
        row = _ROW.match(line)
        if row:
            cum_ms, function = _ms(row.group(2)), row.group(3).strip()
            rows.append([function, round(cum_ms / per, 4)])
            print(f"    {cum_ms / per:7.4f}  {function}")
    return {"cpu_ms_per_message": [round(total_ms / per, 4)], "inclusive": rows}
