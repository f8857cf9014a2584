"""How fast this host runs a fixed piece of Python right now: the CPU milliseconds of one
reference workload, the median of a few rounds (lower is a faster host).

Why: the machine is shared, and its speed moves by half or more between hours while the load
average and the steal time stay low (a neighbour's cache and memory traffic do not show as
either). A `make bench` run's CPU per request is this host's at that hour; the figure here,
taken at the start and the end of each run, says which hour it was, so two runs hours apart
can be read side by side (docs/performance.md, twentieth pass).

The workload is what a request's Python does most: attribute and dict lookups, small objects
made and dropped, strings formatted, JSON encoded and decoded, a regular expression matched.
It is CPU time (`time.thread_time`), not wall time, so a run-queue wait does not count; a
slower core, or one whose caches a neighbour evicts, does.

    .venv/bin/python -m bench host-speed [--every SECONDS --count N]
"""

import argparse
import json
import re
import statistics
import threading
import time

ROUNDS = 7
ITERATIONS = 10_000
_ROUTE = re.compile(r"^api/chats/(?P<chat_id>[0-9]+)/messages/$")


class _Message:
    __slots__ = ("author", "chat_id", "created", "id", "text")

    def __init__(self, id: int, chat_id: int, author: str, text: str, created: float) -> None:
        self.id, self.chat_id, self.author, self.text, self.created = id, chat_id, author, text, created


def _work() -> int:
    seen = 0
    for i in range(ITERATIONS):
        match = _ROUTE.match(f"api/chats/{i % 97}/messages/")
        body = json.loads(json.dumps({"text": f"message {i} of an ordinary length", "client_id": str(i)}))
        message = _Message(i, int(match["chat_id"]), "author", body["text"], float(i))
        data = {slot: getattr(message, slot) for slot in _Message.__slots__}
        seen += len(json.dumps(data)) + len(sorted(data))
    return seen


def reference_ms(rounds: int = ROUNDS) -> float:
    """The median CPU milliseconds of one round of the reference workload in this thread."""
    _work()  # warm up: the regular expression's and json's caches
    times = []
    for _ in range(rounds):
        started = time.thread_time()
        _work()
        times.append(1000 * (time.thread_time() - started))
    return round(statistics.median(times), 2)


class StillWatch:
    """Notices when the whole machine stood still: a thread that wakes every `tick` seconds
    and records each wake-up that came more than `threshold` seconds late (when, and for how
    long). A loaded machine delays a wake-up by milliseconds; a pause of the VM itself (a
    snapshot: the kernel logs "crng reseeded due to virtual machine fork" after one) stops
    every process at once, the servers and the load generator alike, and then every
    request of those seconds is late, the median's included (docs/performance.md, twentieth
    pass)."""

    def __init__(self, *, tick: float = 0.02, threshold: float = 0.5) -> None:
        self.tick, self.threshold = tick, threshold
        self.stills: list[tuple[float, float]] = []  # (wall clock at the end, seconds late)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="still-watch", daemon=True)

    def start(self) -> "StillWatch":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            if now - last - self.tick > self.threshold:
                self.stills.append((time.time(), round(now - last - self.tick, 2)))
            last = now

    def between(self, start: float, end: float) -> list[float]:
        """How long each stand-still that ended between the two wall-clock times lasted."""
        return [seconds for at, seconds in self.stills if start <= at <= end]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench host-speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=float, default=0, help="seconds between samples")
    parser.add_argument("--count", type=int, default=1, help="samples (each about a second)")
    args = parser.parse_args(argv)
    for n in range(args.count):
        if n:
            time.sleep(args.every)
        print(json.dumps({"at": time.strftime("%H:%M:%S", time.gmtime()), "reference_ms": reference_ms()}), flush=True)


if __name__ == "__main__":
    main()
