"""The web's own view of a measured window: the message POST's duration, the queue wait and
group commit's wait from the WSGI server's histograms, the message POSTs it refused and group
commit's fallbacks (core.metrics), read from its /metrics before and after.
Beside the load generator's figures they tell the time a POST spent in Django (first
middleware to response) from what its client saw (nginx, granian, the sockets, the load
generator's own scheduling).

Quantiles are interpolated within the histogram's buckets, as Prometheus'
`histogram_quantile` does: an estimate, as fine as the buckets (1, 2.5, 5, 10, 25 ms, ...).
"""

import math
import re

import httpx

Buckets = dict[float, float]  # upper bound in seconds → requests at or below it

_MESSAGE_POST = ('route="api/chats/<int:chat_id>/messages/"', 'method="POST"', 'status="201"')
_MESSAGE_REFUSED = 'messenger_http_refusals_total{route="api/chats/<int:chat_id>/messages/",status="503"}'
_COUNTERS = {_MESSAGE_REFUSED: "refused", "messenger_group_commit_fallbacks_total": "fallbacks"}
_LE = re.compile(r'le="([^"]+)"')


def histograms(port: int) -> dict[str, Buckets]:
    """The cumulative buckets so far of the message POST's duration (201s), of the queue wait
    and of group commit's wait, the message POSTs the web refused (503: its queue bound or
    the database) and group commit's fallbacks, every worker process's together."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found: dict[str, Buckets] = {"post": {}, "queue_wait": {}, "group_commit_wait": {}, "refused": {}, "fallbacks": {}}
    for line in text.splitlines():
        name = _COUNTERS.get(line.rsplit(" ", 1)[0])
        if name:  # a counter: one "bucket", all of it
            found[name][math.inf] = found[name].get(math.inf, 0.0) + float(line.rsplit(" ", 1)[1])
            continue
        if line.startswith("messenger_http_request_duration_seconds_bucket{") and all(
            label in line for label in _MESSAGE_POST
        ):
            name = "post"
        elif line.startswith("messenger_http_queue_wait_seconds_bucket{"):
            name = "queue_wait"
        elif line.startswith("messenger_group_commit_wait_seconds_bucket{"):
            name = "group_commit_wait"
        else:
            continue
        bound = float(_LE.search(line).group(1))  # "+Inf" reads as inf
        found[name][bound] = found[name].get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


def quantile_ms(before: Buckets, after: Buckets, q: float) -> float | None:
    """The q-quantile in ms of what was observed between the two readings, or None if nothing."""
    buckets = sorted((bound, count - before.get(bound, 0.0)) for bound, count in after.items())
    if not buckets or not buckets[-1][1]:
        return None
    rank = q * buckets[-1][1]
    lower_bound = lower_count = 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return round(1000 * lower_bound, 2)  # past the last bucket: its bound, a floor
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1.0
            return round(1000 * (lower_bound + (bound - lower_bound) * share), 2)
        lower_bound, lower_count = bound, count
    return None


# The window figures that are counts, not quantiles: several runs' add up.
COUNTS = ("refused_in_web", "group_commit_fallbacks")


def window_figures(before: dict[str, Buckets], after: dict[str, Buckets]) -> dict[str, float | None]:
    """The POST's p50 and p99 in Django, the queue wait's p99, the share of writes that
    waited behind another's transaction with that wait's p99, the message POSTs the web
    refused and group commit's fallbacks, over the window."""
    posts = _observed(before["post"], after["post"])
    waited = _observed(before["group_commit_wait"], after["group_commit_wait"])
    return {
        "django_post_p50_ms": quantile_ms(before["post"], after["post"], 0.50),
        "django_post_p99_ms": quantile_ms(before["post"], after["post"], 0.99),
        "queue_wait_p99_ms": quantile_ms(before["queue_wait"], after["queue_wait"], 0.99),
        "group_commit_waited_share": round(waited / posts, 4) if posts else None,
        "group_commit_wait_p99_ms": quantile_ms(before["group_commit_wait"], after["group_commit_wait"], 0.99),
        "refused_in_web": int(_observed(before["refused"], after["refused"])),
        "group_commit_fallbacks": int(_observed(before["fallbacks"], after["fallbacks"])),
    }


def _observed(before: Buckets, after: Buckets) -> float:
    return after.get(math.inf, 0.0) - before.get(math.inf, 0.0)
