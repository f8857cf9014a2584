"""The chat page in Chromium with each transport (`?transport=ws|sse|longpoll|poll`): the
live list shows what REST writes do, and a page whose WebSocket cannot connect falls back
to SSE. The site is served as in production (nginx, granian, uvicorn for the feed)."""

from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from testing.browser import chromium_browser
from testing.site import SiteServer

pytestmark = pytest.mark.slow


@pytest.fixture
def site_with_centrifugo(site, site_centrifugo, request) -> SiteServer:
    """The site with a Centrifugo behind its /connection/; `broken_ws` leaves nothing
    listening there instead (nginx answers 503)."""
    if getattr(request, "param", None) != "broken_ws":
        site_centrifugo()
    return site


@pytest.fixture
def chromium(site_with_centrifugo):
    with chromium_browser() as browser:
        yield browser


def _open_chat(browser, site: SiteServer, user, chat, transport: str) -> Page:
    page = browser.new_context().new_page()
    page.set_default_timeout(20_000)
    path = f"/chats/{chat.pk}/?transport={transport}&interval=1"
    page.goto(f"{site.url}/login/?next={quote(path)}")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pass-word-42")
    page.click("main button[type=submit]")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#connection-state[data-state=connected]")
    return page


def _post(client, chat, text: str) -> dict:
    response = client.post(f"/api/chats/{chat.pk}/messages/", {"text": text}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize("transport", ["ws", "sse", "longpoll", "poll"])
def test_the_live_list_works_with_each_transport(chromium, site, team, client_for, transport):
    page = _open_chat(chromium, site, team.member, team.chat, transport)
    expect(page.locator("#transport-name")).to_have_text(f"via {transport}")
    owner = client_for(team.owner)

    first = _post(owner, team.chat, f"hello over {transport}")
    expect(page.locator(f"#messages [data-message-id='{first['id']}']")).to_contain_text(first["text"])
    second = _post(owner, team.chat, "and once more")
    response = owner.patch(f"/api/chats/{team.chat.pk}/messages/{first['id']}/", {"text": "edited live"}, format="json")
    assert response.status_code == 200
    expect(page.locator(f"#messages [data-message-id='{second['id']}']")).to_contain_text("and once more")
    expect(page.locator(f"#messages [data-message-id='{first['id']}']")).to_contain_text("edited live")
    # In order, each once.
    ids = page.locator("#messages [data-message-id]").evaluate_all("nodes => nodes.map(n => n.dataset.messageId)")
    assert ids[-2:] == [str(first["id"]), str(second["id"])]
    assert page.evaluate("document.body.dataset.transport") == transport


@pytest.mark.parametrize("site_with_centrifugo", ["broken_ws"], indirect=True)
def test_a_page_whose_websocket_cannot_connect_falls_back_to_sse(chromium, site, team, client_for):
    page = _open_chat(chromium, site, team.member, team.chat, "ws")
    expect(page.locator("#transport-name")).to_have_text("via sse (fallback)")
    message = _post(client_for(team.owner), team.chat, "still arrives")
    expect(page.locator(f"#messages [data-message-id='{message['id']}']")).to_contain_text("still arrives")
