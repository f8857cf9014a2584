"""The feed process's garbage collector: start-up frozen, young collections rarer, and a
full collection on a timer instead of whenever CPython's counters say.

Why: a feed process holding thousands of waiting clients has a large heap of long-lived
objects (waiters and their asyncio events, the listener's buffer of events, the credential
cache, every module Django imported). CPython's generational collector walks all of it
whenever an old-generation collection comes due, on the event loop, while every client
waits: with 5,000 long polls those pauses were the long poll's and the SSE stream's p99
(docs/performance.md). Reference counting frees a request's garbage anyway; the collector
is only needed for cycles, and those can wait for a timer.

`start()` runs once when the process is ready to serve (uvicorn's lifespan start-up,
`edge.feed_front`):
- `gc.collect()` then `gc.freeze()`: what start-up made moves to the permanent generation,
  which no collection walks;
- `gc.set_threshold(*THRESHOLDS)`: a young collection every 50,000 net allocations instead of
  every 700, the older ones in proportion;
- every REALTIME_FEED_GC_FULL_COLLECT_SECONDS (15 minutes), off the request path (a timer on
  the event loop): unfreeze, collect everything, freeze again, so a cycle among frozen
  objects is still reclaimed within that period and the pause is paid once per period rather
  than under load (about 0.5 s with 5,000 clients waiting: docs/performance.md).
"""

import asyncio
import gc
import logging
import time

from django.conf import settings

logger = logging.getLogger(__name__)

# (young, middle, old): see the module's docstring; measured with `python -m bench
# transports --clients 5000` (docs/performance.md).
THRESHOLDS = (50_000, 50, 100)

timer: asyncio.TimerHandle | None = None


def collect_and_freeze() -> int:
    """A full collection of everything, the frozen objects included, then everything that
    survived frozen again; returns the objects collected."""
    started = time.perf_counter()
    gc.unfreeze()
    found = gc.collect()
    gc.freeze()
    logger.info(
        "feed gc: collected %d objects, froze %d, in %.0f ms",
        found,
        gc.get_freeze_count(),
        1000 * (time.perf_counter() - started),
    )
    return found


def _collect_later(loop: asyncio.AbstractEventLoop) -> None:
    global timer
    timer = loop.call_later(settings.REALTIME_FEED_GC_FULL_COLLECT_SECONDS, _collect_on_timer, loop)


def _collect_on_timer(loop: asyncio.AbstractEventLoop) -> None:
    collect_and_freeze()
    _collect_later(loop)


def start() -> None:
    """Called once in the running event loop when the process is ready (idempotent)."""
    if timer is not None:
        return
    collect_and_freeze()
    gc.set_threshold(*THRESHOLDS)
    _collect_later(asyncio.get_running_loop())


def stop() -> None:
    """Stops the timer (the process is shutting down); the collector's settings stay."""
    global timer
    if timer is not None:
        timer.cancel()
        timer = None
