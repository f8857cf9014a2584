"""The pages without a browser: who may open them and what they hand to the script."""

import json

import pytest
from django.test import Client


@pytest.fixture
def browser_client():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def page_config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="page-config" type="application/json">') + len(
        '<script id="page-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_pages_need_a_signed_in_user(client, team):
    for path in ("/", f"/chats/{team.chat.pk}/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_chat_page_of_a_chat_i_am_not_in_is_not_found(browser_client, team):
    assert browser_client(team.outsider).get(f"/chats/{team.chat.pk}/").status_code == 404


def test_chat_page_hands_the_script_my_channel_and_the_chat(browser_client, team):
    response = browser_client(team.member).get(f"/chats/{team.chat.pk}/")
    assert response.status_code == 200
    config = page_config(response)
    assert config["user"]["id"] == team.member.pk
    assert config["chat_id"] == team.chat.pk
    assert config["channel"] == f"personal:#{team.member.pk}"
    # Same origin as the page: nginx proxies /connection/ to Centrifugo.
    assert config["ws_url"] == "ws://testserver/connection/websocket"


def test_user_text_in_the_page_is_escaped(browser_client, make_user):
    user = make_user(username="a</script><b>")  # a hostile name ends up in the page config
    response = browser_client(user).get("/")
    assert b"a</script><b>" not in response.content
    assert page_config(response)["user"]["username"] == "a</script><b>"


def test_signup_then_sign_in(client, db, make_user):
    body = {"username": "newbie", "email": "newbie@example.com", "password": "a-long-pass-phrase"}
    response = client.post("/signup/", body)
    assert response.status_code == 200 and b"signup-done" in response.content
    # A taken name or address gets the same page (the email says which).
    make_user("taken", email="taken@example.com")
    again = client.post("/signup/", body | {"username": "other", "email": "TAKEN@example.com"})
    assert again.status_code == 200 and b"signup-done" in again.content and b"taken" not in again.content.lower()
    response = client.post("/login/", {"username": "newbie", "password": body["password"]})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_user_lookup_by_exact_name(browser_client, team):
    client = browser_client(team.owner)
    response = client.get("/users/lookup/", {"username": team.member.username.upper()})
    assert response.json() == {"id": team.member.pk, "username": team.member.username}
    assert client.get("/users/lookup/", {"username": "nobody"}).status_code == 404
