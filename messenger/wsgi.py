"""The WSGI application. granian builds it in each worker with `served_application`
(ops.serving.wsgi_command); `application`, what WSGI_APPLICATION names (runserver), is the
same without a worker's set-up."""

import gc
import logging
import os
from collections.abc import Callable
from typing import Any

from django.core.wsgi import get_wsgi_application

from core.worker import (
    Watchdog,
    cpu_pinned,
    metrics_directory_set,
    process_environment_dropped,
    queue_time_limited,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings.local")

logger = logging.getLogger(__name__)


def served_application() -> Callable[..., Any]:
    """granian's factory (`--factory`), called once as each worker process starts: the
    metrics directory before Django loads anything that imports prometheus_client, the
    worker pinned to a CPU of its own (WSGI_PIN_WORKERS), then the application, warmed up,
    under a watchdog, its requests without the process's environment, and those that waited
    too long for a thread refused (core.worker)."""
    from django.conf import settings

    metrics_directory_set()
    if settings.WSGI_PIN_WORKERS:
        cpu_pinned()
    application = _application()
    watched = Watchdog(settings.WSGI_REQUEST_TIMEOUT_SECONDS).start().wrap(application)
    return queue_time_limited(process_environment_dropped(watched))


def _application() -> Callable[..., Any]:
    application = get_wsgi_application()
    _warm_up()
    return application


def _warm_up() -> None:
    """Imports what the first request would (the URLconf and, through it, every view and
    its libraries): done once as the worker starts, not by the first requests of each
    process, where it held a thread for a few hundred milliseconds.

    Then what start-up made (about 130,000 objects: modules, classes, settings, URL
    patterns) is frozen: it lives as long as the process, and CPython's older-generation
    collections, which would walk all of it every few dozen requests, skip it
    (docs/performance.md, "The worker's start-up frozen")."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the property imports the URLconf
    _pool_opened()
    gc.collect()
    gc.freeze()


def _pool_opened() -> None:
    """Opens the database pool's connections (one a thread, DB_POOL_MAX_SIZE) before the
    worker serves, waiting at most the connect timeout: the first requests then find them
    ready. A database that does not answer now does not stop the worker; the pool goes on
    connecting in the background and requests meanwhile are refused as in any outage
    (core.breaker)."""
    from django.db import connection
    from psycopg_pool import PoolTimeout

    pool = getattr(connection, "pool", None)
    if pool is None:
        return
    try:
        pool.open(wait=True, timeout=connection.settings_dict["OPTIONS"].get("connect_timeout", 2))
    except PoolTimeout:
        logger.warning("the database pool is not full as the worker starts; it goes on connecting")


def __getattr__(name: str) -> Any:
    """`application`, built on first use: importing this module builds nothing, so that
    granian's workers set their metrics directory first."""
    if name == "application":
        global application
        application = _application()
        return application
    raise AttributeError(name)
