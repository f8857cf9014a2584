"""Browser fixtures: Debian's Chromium driven by Playwright, kept off the network."""

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from testing.browser import chromium_browser
from testing.centrifugo import CentrifugoServer

# A shared, busy CI machine can be slow; these are upper bounds, not expectations.
expect.set_options(timeout=20_000)


@pytest.fixture
def centrifugo_engine() -> str:
    """Centrifugo's engine for the browser tests; a test may parametrize it."""
    return "memory"


@pytest.fixture
def stack(site_centrifugo, centrifugo_engine) -> CentrifugoServer:
    """The site as `make run` serves it (nginx, granian, uvicorn: the `site` fixture) and a
    Centrifugo behind its /connection/."""
    return site_centrifugo(engine=centrifugo_engine)


@pytest.fixture
def browser(stack) -> Iterator[Browser]:
    """Chromium for one test, started after the database and Centrifugo are set up."""
    with chromium_browser() as browser:
        yield browser


@pytest.fixture
def open_page(browser, site) -> Iterator[Callable[[User, str], Page]]:
    """Signs `user` in through the login form in a browser context of their own and opens `path`."""
    contexts = []

    def open_as(user: User, path: str = "/", *, chat_page: bool = True) -> Page:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{site.url}/login/?next={path}")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", "pass-word-42")
        page.click("main button[type=submit]")
        page.wait_for_url(f"{site.url}{path}")
        if chat_page:  # loaded through REST and subscribed
            page.wait_for_selector("body[data-ready=true]")
            page.wait_for_selector("#connection-state[data-state=connected]")
        return page

    yield open_as
    for context in contexts:
        context.close()
