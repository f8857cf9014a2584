"""Browser fixtures: Debian's Chromium driven by Playwright, kept off the network."""

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from accounts.models import User
from realtime.testing import CentrifugoServer

# A shared, busy CI machine can be slow; these are upper bounds, not expectations.
expect.set_options(timeout=20_000)

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


@pytest.fixture
def centrifugo_engine() -> str:
    """Centrifugo's engine for the browser tests; a test may parametrize it."""
    return "memory"


@pytest.fixture
def stack(centrifugo_factory, centrifugo_engine, live_server, settings) -> CentrifugoServer:
    """The site (pytest-django's live server) and a Centrifugo that accepts its origin."""
    server = centrifugo_factory(engine=centrifugo_engine, origin=live_server.url)
    settings.CENTRIFUGO_WS_URL = server.ws_url
    return server


@pytest.fixture
def browser(stack, monkeypatch) -> Iterator[Browser]:
    """Chromium for one test. Playwright's sync API runs an event loop in this thread while
    it is open, so it starts after the database and Centrifugo are set up, and the test's
    own ORM calls (plain synchronous code) are allowed next to it."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, live_server) -> Iterator[Callable[[User, str], Page]]:
    """Signs `user` in through the login form in a browser context of their own and opens `path`."""
    contexts = []

    def open_as(user: User, path: str = "/", *, chat_page: bool = True) -> Page:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{live_server.url}/login/?next={path}")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", "pass-word-42")
        page.click("main button[type=submit]")
        page.wait_for_url(f"{live_server.url}{path}")
        if chat_page:  # loaded through REST and subscribed
            page.wait_for_selector("body[data-ready=true]")
            page.wait_for_selector("#connection-state[data-state=connected]")
        return page

    yield open_as
    for context in contexts:
        context.close()
