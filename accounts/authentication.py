"""API token authentication: django-rest-knox's hashed, expiring, per-device tokens, read
with one SQL query, then served from a short-lived in-process cache (accounts.token_cache:
no query while the token is known, revocation still immediate in every process).

knox's own TokenAuthentication also lists every token of the user on each request, to
delete the expired ones (a second query, and a write now and then, on the hot path). Here
the lookup is the single indexed query, and expired tokens are deleted when their owner
next signs in (`accounts.services.token_issue`) and by logout-everywhere.
"""

import binascii
from hmac import compare_digest

from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions

from . import token_cache
from .models import User


class TokenAuthentication(KnoxTokenAuthentication):
    """`Authorization: Token <key>`; `request.auth` is the AuthToken row."""

    def authenticate_credentials(self, token: bytes, *, fresh: bool = False) -> tuple[User, AuthToken]:
        """The token's user and row; `fresh` reads them from the database whatever is cached
        (a check made because a revocation event was seen, which may come before Redis
        is told)."""
        try:
            key = token.decode("ascii")
            digest = hash_token(key)
        except (UnicodeDecodeError, TypeError, binascii.Error):
            raise _invalid() from None
        cached = None if fresh else token_cache.get(digest)
        if cached is not None:
            user, auth_token = cached
            if auth_token.expiry is not None and auth_token.expiry <= timezone.now():
                raise exceptions.AuthenticationFailed("Token has expired; ask for a new one.")
            return user, auth_token
        token_key = key[: CONSTANTS.TOKEN_KEY_LENGTH]
        # Read before the database: a revocation after this read makes the entry stale.
        stamp = token_cache.stamp(token_key)
        candidates = AuthToken.objects.filter(token_key=token_key).select_related("user")
        for auth_token in candidates:
            if not compare_digest(digest, auth_token.digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry <= timezone.now():
                raise exceptions.AuthenticationFailed("Token has expired; ask for a new one.")
            if not auth_token.user.is_active:
                raise exceptions.AuthenticationFailed("User inactive or deleted.")
            token_cache.put(digest, auth_token.user, auth_token, stamp=stamp)
            return auth_token.user, auth_token
        raise _invalid()


def _invalid() -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed("Invalid token.")
