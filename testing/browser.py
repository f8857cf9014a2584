"""Debian's Chromium driven by Playwright, kept off the network, for browser tests."""

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING
from unittest import mock

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# Debian's Chromium as root, kept off the network: without the background-networking flags
# it keeps trying to reach Google's hosts, which this machine's closed network refuses.
CHROMIUM_EXECUTABLE = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium_browser() -> Iterator["Browser"]:
    """Debian's Chromium driven by Playwright's sync API, for one test.

    The sync API runs an event loop in this thread while it is open; the test's own ORM calls
    are plain synchronous code next to it, so Django is told they are safe.
    """
    from playwright.sync_api import sync_playwright

    with mock.patch.dict(os.environ, {"DJANGO_ALLOW_ASYNC_UNSAFE": "true"}), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_EXECUTABLE, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
