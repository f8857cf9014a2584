"""Rate limits on Redis: DRF throttles counting in fixed windows, with rates read from
settings.THROTTLE_RATES on every request (so a test can lower them).

Each check is one round trip: a Lua script (EVALSHA) adds the request to its window's
counter, which expires with the window, unless that would pass the rate; a refused request
is not counted, and Retry-After is what is left of the window. (DRF's own throttle kept a
pickled list of timestamps: a GET and a SET, and a list to rewrite, per request.) A window
lets a client spend its rate at the end of one window and again at the start of the next:
twice the rate over a short spell at worst, which these limits allow.

Signed-in clients are counted per user, others per address (core.net.client_ip). A Redis
outage lets requests through rather than failing them: a throttle protects the service,
it must not become the reason it is down.
"""

import functools
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from rest_framework.throttling import BaseThrottle

from .net import client_ip, too_many_requests_response

logger = logging.getLogger(__name__)

# KEYS[1] the window's counter; ARGV: cost, limit, window seconds. Returns {allowed, seconds
# left in the window}.
_WINDOW_LUA = b"""
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local cost, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if count + cost > limit then
    return {0, redis.call('TTL', KEYS[1])}
end
if redis.call('INCRBY', KEYS[1], cost) == cost then
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    return {1, tonumber(ARGV[3])}
end
return {1, redis.call('TTL', KEYS[1])}
"""
_WINDOW_SHA = hashlib.sha1(_WINDOW_LUA).hexdigest()  # noqa: S324 (Redis names scripts by SHA-1)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.cache
def parse_rate(rate: str) -> tuple[int, int]:
    """ "120/min" -> (120, 60): requests per window, the window in seconds."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period[0]]


def window_charge(client: redis.Redis, key: str, *, cost: int, limit: int, window: int) -> tuple[bool, int]:
    """Charges `cost` to the window's counter at `key` unless that passes `limit`: whether it
    was charged, and the seconds left in the window."""
    args = (1, key, cost, limit, window)
    try:
        allowed, left = client.evalsha(_WINDOW_SHA, *args)
    except redis.exceptions.NoScriptError:  # Redis restarted or its scripts were flushed
        allowed, left = client.eval(_WINDOW_LUA, *args)
    return bool(allowed), int(left)


class ScopeThrottle(BaseThrottle):
    """One scope of THROTTLE_RATES, for the HTTP methods in `methods` only."""

    scope = ""
    methods: tuple[str, ...] = ("POST",)

    def __init__(self) -> None:
        self.retry_after: int | None = None

    def get_rate(self) -> str | None:
        return settings.THROTTLE_RATES.get(self.scope)

    def get_ident(self, request: Any) -> str:
        return client_ip(request)

    def counter_name(self, request: Any) -> str:
        """The counter this request is charged to: its scope and who is counted."""
        user = getattr(request, "user", None)
        ident = f"user-{user.pk}" if user is not None and user.is_authenticated else f"ip-{self.get_ident(request)}"
        return f"window_{self.scope}_{ident}"

    def cost(self, request: Any) -> int:
        return 1

    def allow_request(self, request: Any, view: Any) -> bool:
        rate = self.get_rate()
        if request.method not in self.methods or rate is None:
            return True
        limit, window = parse_rate(rate)
        cache = caches["throttle"]
        key = cache.make_key(self.counter_name(request))
        try:
            allowed, self.retry_after = window_charge(
                cache.redis(), key, cost=min(self.cost(request), limit), limit=limit, window=window
            )
        except Exception:  # Redis unreachable: count nothing, refuse nothing
            logger.warning("throttle %s: counter store unreachable, request let through", self.scope, exc_info=True)
            return True
        return allowed

    def wait(self) -> float | None:
        """Seconds until the window that refused the request ends (Retry-After)."""
        return max(1, self.retry_after) if self.retry_after is not None else None


class LoginThrottle(ScopeThrottle):
    scope = "login"


class RegisterThrottle(ScopeThrottle):
    scope = "register"


class UserLookupThrottle(ScopeThrottle):
    scope = "user_lookup"
    methods = ("GET",)


class MemberAddThrottle(ScopeThrottle):
    scope = "member_add"


class ChatCreateThrottle(MemberAddThrottle):
    """Chat creation shares the member-add budget, charged once per member it names: creating
    chats with strangers is adding members. A request naming more than the whole budget costs
    the whole budget (so it passes only with a fresh one)."""

    def cost(self, request: Any) -> int:
        ids = request.data.get("member_ids") if isinstance(getattr(request, "data", None), dict) else None
        return max(1, len(ids)) if isinstance(ids, list) else 1


class MessagePostThrottle(ScopeThrottle):
    scope = "message_post"


class AddressThrottle(ScopeThrottle):
    """A scope counted per client address too, signed in or not, at the rate
    THROTTLE_RATES["<scope>_address"]: one address running many accounts (or stolen
    sessions) is held back as one. Subclass it together with the scope's account throttle."""

    def get_rate(self) -> str | None:
        return settings.THROTTLE_RATES.get(f"{self.scope}_address")

    def counter_name(self, request: Any) -> str:
        return f"window_{self.scope}_address_ip-{self.get_ident(request)}"


# Costly writes and reads, each limited per account and per address (issue 18).


class ChatCreateRateThrottle(ScopeThrottle):
    """Creating chats: each one notifies every member it names."""

    scope = "chat_create"


class ChatCreateAddressThrottle(AddressThrottle, ChatCreateRateThrottle):
    pass


class MessageEditThrottle(ScopeThrottle):
    """Editing and deleting messages: each fans out to every member and resets the chat's
    Centrifugo history (chats.services.message_update, message_delete)."""

    scope = "message_edit"
    methods = ("PATCH", "DELETE")


class MessageEditAddressThrottle(AddressThrottle, MessageEditThrottle):
    pass


class MemberRoleThrottle(ScopeThrottle):
    """Changing a member's role: an event to every member."""

    scope = "member_role"
    methods = ("PATCH",)


class MemberRoleAddressThrottle(AddressThrottle, MemberRoleThrottle):
    pass


class SearchThrottle(ScopeThrottle):
    """Full-text search: ranks every match in the caller's chats."""

    scope = "search"
    methods = ("GET",)


class SearchAddressThrottle(AddressThrottle, SearchThrottle):
    pass


class ReadMarkerThrottle(ScopeThrottle):
    """Moving a read marker: a write and a `read.updated` event to the chat."""

    scope = "read_marker"


class ReadMarkerAddressThrottle(AddressThrottle, ReadMarkerThrottle):
    pass


def throttled_response(request: HttpRequest, wait: float | None) -> HttpResponse:
    """429 with Retry-After, in the JSON error body (or a short page for a browser form)."""
    seconds = max(1, int(wait or 1))
    return too_many_requests_response(
        request, f"Too many requests. Try again in {seconds} seconds.", retry_after=seconds
    )


def throttle(throttle_class: type[ScopeThrottle]) -> Callable:
    """The same throttle for a plain Django view (the web pages' forms and look-ups)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            limiter = throttle_class()
            if not limiter.allow_request(request, None):
                return throttled_response(request, limiter.wait())
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
