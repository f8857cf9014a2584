"""The one place that turns Django's database settings into what other clients need: a libpq
URL (Centrifugo's outbox consumer, processes the tests and the cluster start) and psycopg's
connection arguments (the feed's LISTEN connection)."""

from typing import Any
from urllib.parse import quote

from django.db import connections


def database_url(settings_dict: dict[str, Any] | None = None, **params: str) -> str:
    """A libpq URL for a Django DATABASES entry (default: the database Django uses now, the
    test database under pytest); `params` become its query string (`sslmode="disable"`)."""
    db = settings_dict or connections["default"].settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = quote(str(db.get("PASSWORD") or ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    query = "&".join(f"{key}={quote(value, safe='')}" for key, value in params.items())
    return f"postgres://{auth}{host}:{port}/{quote(db['NAME'], safe='')}" + (f"?{query}" if query else "")


def database_conninfo(alias: str = "default") -> dict[str, Any]:
    """psycopg connection arguments for Django's database (the test database under pytest)."""
    db = connections[alias].settings_dict
    params: dict[str, Any] = {"dbname": db["NAME"], **db.get("OPTIONS", {})}
    for key, name in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host"), ("PORT", "port")):
        if db.get(key):
            params[name] = db[key]
    for django_only in ("pool", "server_side_binding", "isolation_level", "assume_role", "prepare_threshold"):
        params.pop(django_only, None)
    return params
