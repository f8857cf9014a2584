"""Bad input of every kind gets a clear 4xx with a message, never a 500."""

import pytest

pytestmark = pytest.mark.django_db


def _assert_clear_4xx(response, status: int = 400) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["message"]
    if status == 400 and body["message"] == "Invalid input.":
        assert body["extra"]["fields"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": ""},
        {"text": "   "},
        {"text": "x" * 4001},
        {"text": 12},
        {"text": None},
        {"text": ["a"]},
        {"text": {"a": 1}},
        {"text": "nul \x00 byte"},
        {"text": "ok", "client_id": ""},
        {"text": "ok", "client_id": "x" * 65},
        {"text": "ok", "client_id": 5},
    ],
)
def test_bad_message_bodies(team, client_for, body):
    _assert_clear_4xx(client_for(team.member).post(f"/api/chats/{team.chat.pk}/messages/", body, format="json"))


def test_message_of_exactly_4000_characters_is_accepted(team, client_for):
    response = client_for(team.member).post(f"/api/chats/{team.chat.pk}/messages/", {"text": "x" * 4000}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "before=0",
        "before=-1",
        "after=-5",
        "before=1&after=2",
        "before=99999999999999999999999",
        "after=1e3",
    ],
)
def test_bad_paging_parameters(team, client_for, query):
    _assert_clear_4xx(client_for(team.member).get(f"/api/chats/{team.chat.pk}/messages/?{query}"))


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": 999999},
        {"user_id": "abc"},
        {"user_id": -1},
        {"user_id": 2**70},
        {"user_id": None},
        {},
        {"user_id": "{newcomer}", "role": "owner"},
        {"user_id": "{newcomer}", "role": "king"},
    ],
)
def test_bad_member_bodies(team, client_for, make_user, body):
    newcomer = make_user()
    body = {key: newcomer.pk if value == "{newcomer}" else value for key, value in body.items()}
    _assert_clear_4xx(client_for(team.owner).post(f"/api/chats/{team.chat.pk}/members/", body, format="json"))


@pytest.mark.parametrize(
    "body",
    [{"title": "x" * 201}, {"kind": "channel"}, {"member_ids": "1"}, {"member_ids": [0]}, {"member_ids": [987654]}],
)
def test_bad_chat_bodies(make_user, client_for, body):
    _assert_clear_4xx(client_for(make_user()).post("/api/chats/", body, format="json"))


def test_malformed_json_is_400(team, client_for):
    response = client_for(team.member).post(
        f"/api/chats/{team.chat.pk}/messages/", data='{"text": "unclosed', content_type="application/json"
    )
    _assert_clear_4xx(response)


def test_wrong_content_type_is_415(team, client_for):
    response = client_for(team.member).post(
        f"/api/chats/{team.chat.pk}/messages/", data="text=hi", content_type="application/x-www-form-urlencoded"
    )
    _assert_clear_4xx(response, 415)


def test_huge_body_is_413(team, client_for, settings):
    body = '{"text": "' + "x" * (settings.MAX_REQUEST_BODY_BYTES + 1) + '"}'
    response = client_for(team.member).post(
        f"/api/chats/{team.chat.pk}/messages/", data=body, content_type="application/json"
    )
    _assert_clear_4xx(response, 413)


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/chats/99999999/"),
        ("patch", "/api/chats/99999999999999999999999999/"),
        ("delete", "/api/chats/99999999999999999999999999/"),
        ("get", "/api/chats/99999999999999999999999999/messages/"),
        ("post", "/api/chats/99999999999999999999999999/members/"),
        ("patch", "/api/chats/{chat}/messages/99999999999999999999999/"),
        ("delete", "/api/chats/{chat}/messages/99999999/"),
        ("patch", "/api/chats/{chat}/members/99999999999999999999999/"),
        ("delete", "/api/chats/{chat}/members/99999999/"),
    ],
)
def test_unknown_or_out_of_range_ids_are_404(team, client_for, method, path):
    body = {"title": "t", "text": "t", "role": "admin", "user_id": team.member.pk}
    response = getattr(client_for(team.owner), method)(path.format(chat=team.chat.pk), body, format="json")
    _assert_clear_4xx(response, 404)


def test_bad_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token nonsense")
    _assert_clear_4xx(api_client.get("/api/chats/"), 401)
