"""Rate limits on Redis: DRF throttles whose counters live in the `throttle` cache, with
rates read from settings.THROTTLE_RATES on every request (so a test can lower them).

Signed-in clients are counted per user, others per address (core.net.client_ip). A Redis
outage lets requests through rather than failing them: a throttle protects the service,
it must not become the reason it is down.
"""

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from rest_framework.throttling import SimpleRateThrottle

from .net import client_ip, too_many_requests_response

logger = logging.getLogger(__name__)


class ScopeThrottle(SimpleRateThrottle):
    """One scope of THROTTLE_RATES, for the HTTP methods in `methods` only."""

    scope = ""
    methods: tuple[str, ...] = ("POST",)

    def __init__(self) -> None:
        self.cache = caches["throttle"]
        super().__init__()

    def get_rate(self) -> str | None:
        return settings.THROTTLE_RATES.get(self.scope)

    def get_ident(self, request: Any) -> str:
        return client_ip(request)

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if request.method not in self.methods:
            return None
        user = getattr(request, "user", None)
        ident = f"user-{user.pk}" if user is not None and user.is_authenticated else f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:  # Redis unreachable: count nothing, refuse nothing
            logger.warning("throttle %s: counter store unreachable, request let through", self.scope, exc_info=True)
            return True


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

    def allow_request(self, request: Any, view: Any) -> bool:
        ids = request.data.get("member_ids") if isinstance(getattr(request, "data", None), dict) else None
        self.cost = max(1, len(ids)) if isinstance(ids, list) else 1
        return super().allow_request(request, view)

    def throttle_success(self) -> bool:
        cost = min(self.cost, self.num_requests)
        if len(self.history) + cost > self.num_requests:
            return self.throttle_failure()
        self.history[:0] = [self.now] * cost
        self.cache.set(self.key, self.history, self.duration)
        return True


class MessagePostThrottle(ScopeThrottle):
    scope = "message_post"


class AddressThrottle(ScopeThrottle):
    """A scope counted per client address too, signed in or not, at the rate
    THROTTLE_RATES["<scope>_address"]: one address running many accounts (or stolen
    sessions) is held back as one. Subclass it together with the scope's account throttle."""

    def get_rate(self) -> str | None:
        return settings.THROTTLE_RATES.get(f"{self.scope}_address")

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if request.method not in self.methods:
            return None
        return self.cache_format % {"scope": f"{self.scope}_address", "ident": f"ip-{self.get_ident(request)}"}


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
