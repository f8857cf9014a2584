"""The app's PostgreSQL connections: timeouts set on every connection, and a role that is
not a superuser (scripts/services.sh creates `messenger_app`)."""

import os

import pytest
from django.db import OperationalError, connection, transaction

pytestmark = pytest.mark.django_db


def _milliseconds(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT setting::int FROM pg_settings WHERE name = %s AND unit = 'ms'", [name])
        return cursor.fetchone()[0]


def test_every_connection_has_statement_lock_and_idle_timeouts(settings):
    assert _milliseconds("statement_timeout") == settings.DB_STATEMENT_TIMEOUT_MS
    assert _milliseconds("lock_timeout") == settings.DB_LOCK_TIMEOUT_MS
    assert _milliseconds("idle_in_transaction_session_timeout") == settings.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS


def test_a_statement_past_the_timeout_is_cancelled():
    with (
        pytest.raises(OperationalError, match="statement timeout"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL statement_timeout = 200")  # the setting's mechanism, shorter
        cursor.execute("SELECT pg_sleep(5)")


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="an external database's role is its owner's choice")
def test_the_app_role_is_not_a_superuser():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user")
        user, superuser, createdb = cursor.fetchone()
    assert (user, superuser, createdb) == ("messenger_app", False, True)
