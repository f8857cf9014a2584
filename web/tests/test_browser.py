"""The chat page in a real browser: changes made anywhere appear in open pages, live."""

import pytest
from playwright.sync_api import expect

from chats.models import Membership
from chats.services import chat_member_add

pytestmark = pytest.mark.slow


def test_one_sends_the_other_sees_it_without_reload(open_page, team):
    chat_url = f"/chats/{team.chat.pk}/"
    sender = open_page(team.owner, chat_url)
    reader = open_page(team.member, chat_url)

    sender.fill("#send-box input[name=text]", "Hello from the owner")
    sender.click("#send-box button")

    expect(reader.locator("#messages .message .text")).to_have_text(["Hello from the owner"])
    expect(sender.locator("#messages .message .text")).to_have_text(["Hello from the owner"])
    # Live, not reloaded: the page's own state object is still the one it started with.
    assert reader.evaluate("window.messenger.state.messages.size") == 1


def test_message_created_in_django_admin_appears_in_open_chat_page(open_page, make_user, team):
    staff = make_user(is_staff=True, is_superuser=True)
    reader = open_page(team.member, f"/chats/{team.chat.pk}/")
    admin = open_page(staff, "/admin/chats/message/add/", chat_page=False)

    admin.fill("input[name=chat]", str(team.chat.pk))
    admin.fill("input[name=author]", str(team.admin.pk))
    admin.fill("textarea[name=text], input[name=text]", "Posted by a moderator")
    admin.click("input[name=_save]")
    expect(admin.locator(".messagelist")).to_contain_text("was added successfully")

    expect(reader.locator("#messages .message .text")).to_have_text(["Posted by a moderator"])
    expect(reader.locator("#messages .message .author")).to_have_text([team.admin.username])


def test_chat_created_for_a_user_appears_in_their_open_list(open_page, client_for, make_user, team):
    page = open_page(team.outsider, "/")
    expect(page.locator("#chat-list li")).to_have_count(0)

    response = client_for(team.owner).post(
        "/api/chats/", {"title": "Planning", "member_ids": [team.outsider.pk]}, format="json"
    )
    assert response.status_code == 201
    expect(page.locator("#chat-list li a")).to_have_text(["Planning"])

    # Added to an existing chat (Django admin's path: a service with no actor) shows up too.
    chat_member_add(chat=team.chat, user=team.outsider, role=Membership.Role.MEMBER, added_by=None)
    expect(page.locator("#chat-list li a")).to_have_count(2)


def test_script_in_a_message_shows_as_text(open_page, team):
    payload = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><b>bold?</b>'
    sender = open_page(team.owner, f"/chats/{team.chat.pk}/")
    reader = open_page(team.member, f"/chats/{team.chat.pk}/")

    sender.fill("#send-box input[name=text]", payload)
    sender.click("#send-box button")

    for page in (reader, sender):
        expect(page.locator("#messages .message .text")).to_have_text([payload])
        assert page.locator("#messages script, #messages img, #messages b").count() == 0
        assert page.evaluate("window.pwned") is None


@pytest.mark.parametrize("centrifugo_engine", ["memory", "redis"])
def test_page_catches_up_after_centrifugo_restarts(centrifugo_engine, stack, open_page, team, client_for):
    """Messages posted while Centrifugo is down appear once it is back: recovered from
    history (Redis engine), or refetched through REST when history is gone (memory)."""
    page = open_page(team.member, f"/chats/{team.chat.pk}/")
    server = stack
    server.stop()
    expect(page.locator("#connection-state")).not_to_have_attribute("data-state", "connected")
    poster = client_for(team.owner)
    for n in range(5):
        poster.post(f"/api/chats/{team.chat.pk}/messages/", {"text": f"while down {n}"}, format="json")
    server.start()
    expect(page.locator("#connection-state")).to_have_attribute("data-state", "connected", timeout=30_000)
    expect(page.locator("#messages .message .text")).to_have_text([f"while down {n}" for n in range(5)])
    # The first load is one snapshot; only a gap history could not cover makes another.
    assert page.evaluate("window.messenger.state.snapshots") == (2 if centrifugo_engine == "memory" else 1)


def test_edits_deletions_and_members_appear_live(open_page, client_for, make_user, team):
    owner = client_for(team.owner)
    chat_url = f"/api/chats/{team.chat.pk}"
    message = owner.post(f"{chat_url}/messages/", {"text": "first draft"}, format="json").json()
    page = open_page(team.member, f"/chats/{team.chat.pk}/")
    texts = page.locator("#messages .message .text")
    expect(texts).to_have_text(["first draft"])

    owner.patch(f"{chat_url}/messages/{message['id']}/", {"text": "final text"}, format="json")
    expect(texts).to_have_text(["final text"])
    expect(page.locator("#messages .message .edited")).to_have_count(1)

    owner.delete(f"{chat_url}/messages/{message['id']}/")
    expect(texts).to_have_text(["message deleted"])

    newcomer = make_user()
    members = page.locator("#members li")
    expect(members).to_have_count(3)
    owner.post(f"{chat_url}/members/", {"user_id": newcomer.pk}, format="json")
    expect(members).to_have_count(4)
    owner.delete(f"{chat_url}/members/{newcomer.pk}/")
    expect(members).to_have_count(3)

    owner.patch(f"{chat_url}/", {"title": "Renamed"}, format="json")
    expect(page.locator("#chat-title")).to_have_text("Renamed")
    expect(page.locator("#chat-list li a")).to_have_text(["Renamed"])

    owner.delete(f"{chat_url}/")
    expect(page.locator("#chat-list li")).to_have_count(0)
    expect(page.locator("#chat-notice")).to_have_text("This chat was deleted.")
    expect(page.locator("#send-box input[name=text]")).to_be_disabled()
