"""Signals of the accounts app, for apps above it, which it does not import (import-linter's
layers): realtime ends the user's streams, notifications sends the verification email."""

from django.dispatch import Signal

# Sent inside the transaction that ended every way the user was signed in (log out
# everywhere): `user`, `reason`.
access_revoked = Signal()

# Sent inside the transaction that created an account: `user`.
user_created = Signal()
