"""Unread and mention badges, "seen" and "read by", typing, presence, search and the
notification settings, live in two real browsers (Chromium) against Centrifugo."""

import pytest
from playwright.sync_api import expect

from chats.services import chat_create, message_create

pytestmark = pytest.mark.slow


def _badge(page, chat_id, kind):
    return page.locator(f"#chat-list li[data-chat-id='{chat_id}'] .badge.{kind}")


def test_unread_and_mention_badges_clear_in_every_tab_of_the_reader(open_page, team, client_for):
    list_tab = open_page(team.member, "/")
    other_tab = open_page(team.member, "/")
    owner = client_for(team.owner)
    url = f"/api/chats/{team.chat.pk}/messages/"
    owner.post(url, {"text": "hello"}, format="json")
    owner.post(url, {"text": f"@{team.member.username} please look"}, format="json")
    for tab in (list_tab, other_tab):
        expect(_badge(tab, team.chat.pk, "unread")).to_have_text("2")
        expect(_badge(tab, team.chat.pk, "mention")).to_have_text("@1")

    chat_tab = open_page(team.member, f"/chats/{team.chat.pk}/")  # reading it clears the badges everywhere
    expect(chat_tab.locator("#messages .message.mentions-me .mention.me")).to_have_text(f"@{team.member.username}")
    for tab in (list_tab, other_tab, chat_tab):
        expect(_badge(tab, team.chat.pk, "unread")).to_have_count(0)
        expect(_badge(tab, team.chat.pk, "mention")).to_have_count(0)
    # A reload agrees: the server's count is zero.
    list_tab.reload()
    list_tab.wait_for_selector("body[data-ready=true]")
    expect(list_tab.locator(f"#chat-list li[data-chat-id='{team.chat.pk}']")).to_be_visible()
    expect(_badge(list_tab, team.chat.pk, "unread")).to_have_count(0)


def test_direct_chat_shows_seen_and_group_shows_read_by(open_page, team):
    direct = chat_create(created_by=team.owner, kind="direct", member_ids=[team.member.pk])
    sender = open_page(team.owner, f"/chats/{direct.pk}/")
    sender.fill("#send-box input[name=text]", "are you there?")
    sender.click("#send-box button")
    expect(sender.locator("#messages .message .text")).to_have_text(["are you there?"])
    expect(sender.locator("#messages .receipt.seen")).to_have_count(0)
    open_page(team.member, f"/chats/{direct.pk}/")
    expect(sender.locator("#messages .message.mine .receipt.seen")).to_have_text("seen")

    group_sender = open_page(team.owner, f"/chats/{team.chat.pk}/")
    group_sender.fill("#send-box input[name=text]", "team update")
    group_sender.click("#send-box button")
    open_page(team.member, f"/chats/{team.chat.pk}/")
    expect(group_sender.locator("#messages .message.mine .receipt")).to_have_text("read by 1")
    open_page(team.admin, f"/chats/{team.chat.pk}/")
    expect(group_sender.locator("#messages .message.mine .receipt")).to_have_text("read by 2")


def test_typing_shows_and_disappears(open_page, team):
    watcher = open_page(team.owner, f"/chats/{team.chat.pk}/")
    typist = open_page(team.member, f"/chats/{team.chat.pk}/")
    expect(watcher.locator(f"#members li[data-user-id='{team.member.pk}'] .dot.online")).to_have_count(1)
    typist.type("#send-box input[name=text]", "hel")
    expect(watcher.locator("#typing")).to_have_text(f"{team.member.username} is typing…", timeout=5000)
    expect(typist.locator("#typing")).to_have_text("")  # not told about oneself
    expect(watcher.locator("#typing")).to_have_text("", timeout=8000)  # a few seconds after it stopped


def test_presence_shows_a_second_browser_coming_and_going(open_page, team):
    watcher = open_page(team.owner, f"/chats/{team.chat.pk}/")
    member_dot = watcher.locator(f"#members li[data-user-id='{team.member.pk}'] .dot")
    expect(watcher.locator(f"#members li[data-user-id='{team.owner.pk}'] .dot.online")).to_have_count(1)
    expect(member_dot).to_have_attribute("data-online", "false")
    visitor = open_page(team.member, f"/chats/{team.chat.pk}/")
    expect(member_dot).to_have_attribute("data-online", "true", timeout=5000)
    visitor.context.close()
    expect(member_dot).to_have_attribute("data-online", "false", timeout=5000)


def test_search_box_finds_only_my_chats(open_page, team):
    message_create(chat_id=team.chat.pk, author=team.owner, text="the budget for next quarter")
    secret = chat_create(created_by=team.outsider, title="Secret")
    message_create(chat_id=secret.pk, author=team.outsider, text="secret budget")
    page = open_page(team.member, "/")
    page.fill("#search input[name=q]", "budget")
    page.click("#search button")
    hits = page.locator("#search-results li a")
    expect(hits).to_have_count(1)
    expect(hits.locator("mark")).to_have_text("budget")
    expect(hits.locator(".where")).to_contain_text("Team")


def test_notification_settings_are_saved(open_page, team, client_for):
    page = open_page(team.member, "/")
    page.click(".settings summary")
    # The digest is off until its user turns it on.
    expect(page.locator("#notification-settings input[name=enabled]")).not_to_be_checked()
    page.check("#notification-settings input[name=enabled]")
    expect(page.locator("#notification-settings .status")).to_have_text("saved")
    assert client_for(team.member).get("/api/notifications/settings/").json()["enabled"] is True
    page.fill("#notification-settings input[name=window_minutes]", "15")
    page.locator("#notification-settings input[name=window_minutes]").dispatch_event("change")
    expect(page.locator("#notification-settings .status")).to_have_text("saved")
    page.uncheck("#notification-settings input[name=enabled]")
    expect(page.locator("#notification-settings .status")).to_have_text("saved")
    assert client_for(team.member).get("/api/notifications/settings/").json() == {
        "enabled": False,
        "window_minutes": 15,
    }


@pytest.mark.parametrize("transport", ["sse", "longpoll"])
def test_badges_seen_and_typing_on_the_other_transports(open_page, team, client_for, transport):
    """The event feed's transports carry read.updated like every event; typing and presence
    have their own Centrifugo connection, whatever the transport."""
    reader = open_page(team.member, f"/?transport={transport}")
    assert reader.evaluate("window.messenger.transportName") == transport
    client_for(team.owner).post(f"/api/chats/{team.chat.pk}/messages/", {"text": "over the feed"}, format="json")
    expect(_badge(reader, team.chat.pk, "unread")).to_have_text("1")

    sender = open_page(team.owner, f"/chats/{team.chat.pk}/?transport={transport}")
    watcher = open_page(team.member, f"/chats/{team.chat.pk}/?transport={transport}")
    expect(_badge(reader, team.chat.pk, "unread")).to_have_count(0)  # read in the other tab
    expect(sender.locator("#messages .message.mine .receipt")).to_have_text("read by 1")
    sender.type("#send-box input[name=text]", "typ")
    expect(watcher.locator("#typing")).to_have_text(f"{team.owner.username} is typing…")
