"""Signals of the accounts app, for apps above it (realtime ends the user's streams)."""

from django.dispatch import Signal

# Sent inside the transaction that ended every way the user was signed in (log out
# everywhere): `user`, `reason`.
access_revoked = Signal()
