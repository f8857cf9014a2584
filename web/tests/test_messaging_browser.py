"""Replies, reactions, edit history, desktop notifications and announcement chats in two
real browsers (Chromium) against Centrifugo (issue 17)."""

import pytest
from playwright.sync_api import expect

from chats.services import chat_create, message_create

pytestmark = pytest.mark.slow


_FLASH_WATCH = """id => {
    window.flashed = false;
    new MutationObserver(() => {
        const item = document.querySelector(`#messages li[data-message-id='${id}']`);
        if (item?.classList.contains("flash")) window.flashed = true;
    }).observe(document.getElementById("messages"), {subtree: true, attributes: true, attributeFilter: ["class"]});
}"""


def _message(page, message_id):
    return page.locator(f"#messages li[data-message-id='{message_id}']")


def test_a_reply_quotes_the_original_jumps_to_it_and_shows_its_deletion(open_page, team, client_for):
    original, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="who takes the minutes?")
    for n in range(40):  # enough to scroll the original out of view
        message_create(chat_id=team.chat.pk, author=team.admin, text=f"filler {n}")
    chat_url = f"/chats/{team.chat.pk}/"
    owner = open_page(team.owner, chat_url)
    member = open_page(team.member, chat_url)

    _message(member, original.pk).locator("button.reply").click()
    expect(member.locator("#reply-bar")).to_contain_text("who takes the minutes?")
    member.fill("#send-box input[name=text]", "I will")
    member.click("#send-box button")
    expect(member.locator("#reply-bar")).to_be_hidden()

    quote = owner.locator("#messages .message .quote")
    expect(quote).to_have_count(1)
    expect(quote.locator(".quote-text")).to_have_text("who takes the minutes?")
    expect(quote.locator(".quote-author")).to_have_text(team.owner.username)
    # The flash lasts 2 s: a MutationObserver sees it however late this process looks.
    owner.evaluate(_FLASH_WATCH, original.pk)
    quote.click()
    owner.wait_for_function("() => window.flashed")
    expect(_message(owner, original.pk)).to_be_in_viewport()

    client_for(team.owner).delete(f"/api/chats/{team.chat.pk}/messages/{original.pk}/")
    for page in (owner, member):
        expect(page.locator("#messages .message .quote .quote-text")).to_have_text("deleted message")
    # A fresh load computes the same on the server: no stale text anywhere.
    member.reload()
    member.wait_for_selector("body[data-ready=true]")
    expect(member.locator("#messages .message .quote.deleted .quote-text")).to_have_text("deleted message")
    assert "who takes the minutes" not in member.content()


def test_reactions_count_live_in_the_other_browser_and_show_who_on_hover(open_page, team):
    message, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="release on friday")
    chat_url = f"/chats/{team.chat.pk}/"
    owner = open_page(team.owner, chat_url)
    member = open_page(team.member, chat_url)

    picker = _message(member, message.pk).locator("details.react")
    picker.locator("summary").click()
    picker.locator("button[data-emoji='👍']").click()

    thumbs = _message(owner, message.pk).locator(".reactions .reaction[data-emoji='👍']")
    expect(thumbs).to_have_text("👍 1")
    expect(_message(member, message.pk).locator(".reaction.mine[data-emoji='👍']")).to_have_text("👍 1")
    thumbs.hover()
    expect(thumbs).to_have_attribute("title", team.member.username)

    thumbs.click()  # the owner adds theirs
    expect(_message(member, message.pk).locator(".reaction[data-emoji='👍']")).to_have_text("👍 2")
    _message(member, message.pk).locator(".reaction[data-emoji='👍']").click()  # the member takes theirs back
    expect(thumbs).to_have_text("👍 1")
    expect(_message(owner, message.pk).locator(".reaction.mine[data-emoji='👍']")).to_have_count(1)
    owner.reload()  # a fresh page knows which reactions are its user's own
    owner.wait_for_selector("body[data-ready=true]")
    expect(_message(owner, message.pk).locator(".reaction.mine[data-emoji='👍']")).to_have_text("👍 1")


def test_a_press_on_a_button_outlasts_a_render_of_the_list(open_page, team):
    """The message list is rendered again on every event; a button pressed meanwhile is not
    replaced under the pointer (its click would be lost): the render waits for the release."""
    message, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="lunch at one?")
    member = open_page(team.member, f"/chats/{team.chat.pk}/")
    picker = _message(member, message.pk).locator("details.react")
    picker.locator("summary").click()
    picker.locator("button[data-emoji='🎉']").hover()
    member.mouse.down()
    arrived, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="or at two")
    member.wait_for_timeout(1500)  # the event reaches the page within milliseconds
    member.mouse.up()
    expect(_message(member, message.pk).locator(".reaction.mine[data-emoji='🎉']")).to_have_text("🎉 1")
    expect(_message(member, arrived.pk)).to_be_visible()


def test_an_open_emoji_picker_stays_open_when_a_new_message_arrives(open_page, team):
    """The message list is rendered again on every event; the picker someone is choosing
    from is not closed under their pointer."""
    message, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="lunch at one?")
    member = open_page(team.member, f"/chats/{team.chat.pk}/")
    picker = _message(member, message.pk).locator("details.react")
    picker.locator("summary").click()
    expect(picker).to_have_attribute("open", "")

    arrived, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="or at two")
    expect(_message(member, arrived.pk)).to_be_visible()
    expect(picker).to_have_attribute("open", "")
    picker.locator("button[data-emoji='🎉']").click()
    expect(_message(member, message.pk).locator(".reaction.mine[data-emoji='🎉']")).to_have_text("🎉 1")
    expect(picker).not_to_have_attribute("open", "")


def test_an_edited_message_says_so_and_shows_its_earlier_versions(open_page, team, client_for):
    message, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="meet at 10")
    member = open_page(team.member, f"/chats/{team.chat.pk}/")
    expect(_message(member, message.pk).locator(".edited")).to_have_count(0)
    url = f"/api/chats/{team.chat.pk}/messages/{message.pk}/"
    client_for(team.owner).patch(url, {"text": "meet at 11"}, format="json")
    item = _message(member, message.pk)
    expect(item.locator(".text")).to_have_text("meet at 11")
    item.locator(".edited").click()
    expect(item.locator(".versions li .version-text")).to_have_text(["meet at 10"])
    client_for(team.owner).patch(url, {"text": "meet at noon"}, format="json")  # edited again while open
    expect(item.locator(".versions li .version-text")).to_have_text(["meet at 10", "meet at 11"])


# Records every Notification the page makes, and lets the test hide the tab (headless
# Chromium's tabs are always visible).
RECORD_NOTIFICATIONS = """
(() => {
  window.__notifications = [];
  window.__hidden = false;
  const Real = window.Notification;
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notifications.push({ title, body: options?.body, tag: options?.tag });
      window.__lastNotification = this;
    }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorded;
  Object.defineProperty(document, "hidden", { get: () => window.__hidden });
  Object.defineProperty(document, "visibilityState", { get: () => (window.__hidden ? "hidden" : "visible") });
})();
"""


def _with_notifications(page, site_url):
    page.context.grant_permissions(["notifications"], origin=site_url)
    page.context.add_init_script(RECORD_NOTIFICATIONS)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#connection-state[data-state=connected]")
    return page


def test_desktop_notification_for_a_mention_or_direct_message_when_hidden(open_page, team, site, client_for):
    direct = chat_create(created_by=team.owner, kind="direct", member_ids=[team.member.pk])
    reader = _with_notifications(open_page(team.member, f"/chats/{team.chat.pk}/"), site.url)
    assert reader.evaluate("Notification.permission") == "granted"
    owner = client_for(team.owner)
    group_url, direct_url = f"/api/chats/{team.chat.pk}/messages/", f"/api/chats/{direct.pk}/messages/"

    owner.post(group_url, {"text": "visible tab: no notification @" + team.member.username}, format="json")
    expect(reader.locator("#messages .message .text")).to_have_count(1)
    reader.evaluate("window.__hidden = true")
    owner.post(group_url, {"text": "no mention, no notification"}, format="json")
    owner.post(group_url, {"text": f"@{team.member.username} please review"}, format="json")
    owner.post(direct_url, {"text": "just between us"}, format="json")
    reader.wait_for_function("() => window.__notifications.length >= 2")
    recorded = reader.evaluate("window.__notifications")
    assert [(n["title"], n["body"]) for n in recorded] == [
        ("Team", f"{team.owner.username}: @{team.member.username} please review"),
        (f"Direct chat #{direct.pk}", f"{team.owner.username}: just between us"),
    ]
    # Clicking the direct message's notification opens that chat.
    reader.evaluate("window.__lastNotification.onclick()")
    reader.wait_for_url(f"{site.url}/chats/{direct.pk}/#message-*")

    # Turned off in the settings: nothing more.
    reader.wait_for_selector("body[data-ready=true]")
    reader.click(".settings summary")
    reader.uncheck("#desktop-settings input[name=enabled]")
    expect(reader.locator("#desktop-settings .status")).to_have_text("saved")
    assert client_for(team.member).get("/api/notifications/desktop/").json() == {"enabled": False}
    reader.evaluate("window.__hidden = true")
    owner.post(direct_url, {"text": "another"}, format="json")
    expect(reader.locator("#messages .message .text")).to_have_count(2)
    assert reader.evaluate("window.__notifications.length") == 0  # a new page: its own record


def test_an_announcement_chat_turns_a_members_send_box_off_live(open_page, team, client_for):
    owner_api = client_for(team.owner)
    owner_api.patch(f"/api/chats/{team.chat.pk}/", {"announcement": True}, format="json")
    member = open_page(team.member, f"/chats/{team.chat.pk}/")
    box = member.locator("#send-box input[name=text]")
    expect(box).to_be_disabled()
    expect(box).to_have_attribute("placeholder", "Only the owner and admins post in this announcement chat")
    owner = open_page(team.owner, f"/chats/{team.chat.pk}/")
    expect(owner.locator("#send-box input[name=text]")).to_be_enabled()
    owner.fill("#send-box input[name=text]", "news for all")
    owner.click("#send-box button")
    expect(member.locator("#messages .message .text")).to_have_text(["news for all"])
    owner_api.patch(f"/api/chats/{team.chat.pk}/", {"announcement": False}, format="json")
    expect(box).to_be_enabled()  # chat.updated, live
    member.fill("#send-box input[name=text]", "thanks")
    member.click("#send-box button")
    expect(owner.locator("#messages .message .text")).to_have_text(["news for all", "thanks"])


def test_member_search_finds_members_beyond_the_first_page(open_page, team, make_user):
    from chats.services import chat_member_add

    for name in ("zed.one", "zed.two", "yara"):
        chat_member_add(chat=team.chat, user=make_user(name), added_by=team.owner)
    page = open_page(team.member, f"/chats/{team.chat.pk}/")
    page.fill("#member-search input[name=q]", "zed")
    page.click("#member-search button")
    expect(page.locator("#member-search-results li span:first-child")).to_have_text(["zed.one", "zed.two"])
    page.fill("#member-search input[name=q]", "nobody")
    page.click("#member-search button")
    expect(page.locator("#member-search-results li.empty")).to_have_text("Nobody found.")
