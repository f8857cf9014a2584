"""Every costly endpoint is limited per account and per address (issue 18): chat creation,
message edits and deletes, role changes, search, read markers. Each refusal is the JSON
429 with Retry-After; another account has its own count, unless it shares the address."""

import pytest

from chats.services import chat_member_add, message_create

pytestmark = pytest.mark.django_db


def _assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert set(body) == {"message", "extra"} and body["message"]


def _calls(team, make_user):
    """(scope, caller, request) for each costly endpoint; each request is allowed on its own."""
    chat = team.chat
    message, _ = message_create(chat_id=chat.pk, author=team.owner, text="edit me")
    other = make_user()
    chat_member_add(chat=chat, user=other, added_by=team.owner)
    roles = iter(["admin", "member"] * 10)
    texts = iter(f"edit {i}" for i in range(100))
    return [
        ("chat_create", lambda c: c.post("/api/chats/", {"title": "t"}, format="json")),
        (
            "message_edit",
            lambda c: c.patch(f"/api/chats/{chat.pk}/messages/{message.pk}/", {"text": next(texts)}, format="json"),
        ),
        (
            "member_role",
            lambda c: c.patch(f"/api/chats/{chat.pk}/members/{other.pk}/", {"role": next(roles)}, format="json"),
        ),
        ("search", lambda c: c.get("/api/search/", {"q": "edit"})),
        ("read_marker", lambda c: c.post(f"/api/chats/{chat.pk}/read/", {"up_to": message.pk}, format="json")),
    ]


@pytest.mark.parametrize("scope", ["chat_create", "message_edit", "member_role", "search", "read_marker"])
def test_each_costly_endpoint_is_throttled_per_account(scope, team, make_user, client_for, throttle_rates):
    throttle_rates(**{scope: "2/min"})
    call = dict(_calls(team, make_user))[scope]
    owner = client_for(team.owner)
    for _ in range(2):
        assert call(owner).status_code < 400
    _assert_throttled(call(owner))


@pytest.mark.parametrize("scope", ["chat_create", "search", "read_marker"])
def test_and_per_address_whatever_the_account(scope, team, make_user, client_for, throttle_rates):
    throttle_rates(**{f"{scope}_address": "2/min"})
    call = dict(_calls(team, make_user))[scope]
    owner, member = client_for(team.owner), client_for(team.member)
    assert call(owner).status_code < 400
    assert call(member).status_code < 400
    _assert_throttled(call(member))  # a third call from the same address
    # Another address has a count of its own.
    assert call_from(call, member, "10.9.9.9").status_code < 400


def call_from(call, client, address: str):
    client.defaults["REMOTE_ADDR"] = address
    try:
        return call(client)
    finally:
        del client.defaults["REMOTE_ADDR"]


def test_a_message_delete_counts_as_an_edit(team, client_for, throttle_rates):
    throttle_rates(message_edit="1/min")
    owner = client_for(team.owner)
    first, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="a")
    second, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="b")
    assert owner.delete(f"/api/chats/{team.chat.pk}/messages/{first.pk}/").status_code == 204
    _assert_throttled(owner.delete(f"/api/chats/{team.chat.pk}/messages/{second.pk}/"))
    # Reading is not limited by it.
    assert owner.get(f"/api/chats/{team.chat.pk}/messages/").status_code == 200
