"""API token authentication: django-rest-knox's hashed, expiring, per-device tokens, read
with one SQL query.

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

from .models import User


class TokenAuthentication(KnoxTokenAuthentication):
    """`Authorization: Token <key>`; `request.auth` is the AuthToken row."""

    def authenticate_credentials(self, token: bytes) -> tuple[User, AuthToken]:
        invalid = exceptions.AuthenticationFailed("Invalid token.")
        try:
            key = token.decode("ascii")
            digest = hash_token(key)
        except (UnicodeDecodeError, TypeError, binascii.Error):
            raise invalid from None
        candidates = AuthToken.objects.filter(token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH]).select_related("user")
        for auth_token in candidates:
            if not compare_digest(digest, auth_token.digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry <= timezone.now():
                raise exceptions.AuthenticationFailed("Token has expired; ask for a new one.")
            if not auth_token.user.is_active:
                raise exceptions.AuthenticationFailed("User inactive or deleted.")
            return auth_token.user, auth_token
        raise invalid
