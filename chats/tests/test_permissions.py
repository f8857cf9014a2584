"""Who may do what: every endpoint × owner, admin, member, non-member, anonymous.

A non-member gets 404 (the chat's existence does not leak), a member without the right
role 403, an anonymous caller 401.
"""

import pytest

from chats.services import chat_member_add, message_create

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "member", "outsider", "anonymous"]

# (name, method, path, body, expected status for each role in ROLES)
MATRIX = [
    ("list chats", "get", "/api/chats/", None, [200, 200, 200, 200, 401]),
    ("create chat", "post", "/api/chats/", {"title": "New"}, [201, 201, 201, 201, 401]),
    ("read chat", "get", "/api/chats/{chat}/", None, [200, 200, 200, 404, 401]),
    ("rename chat", "patch", "/api/chats/{chat}/", {"title": "Renamed"}, [200, 200, 403, 404, 401]),
    ("delete chat", "delete", "/api/chats/{chat}/", None, [204, 403, 403, 404, 401]),
    ("list members", "get", "/api/chats/{chat}/members/", None, [200, 200, 200, 404, 401]),
    ("add member", "post", "/api/chats/{chat}/members/", {"user_id": "{newcomer}"}, [201, 201, 403, 404, 401]),
    (
        "add admin",
        "post",
        "/api/chats/{chat}/members/",
        {"user_id": "{newcomer}", "role": "admin"},
        [201, 403, 403, 404, 401],
    ),
    ("change role", "patch", "/api/chats/{chat}/members/{other}/", {"role": "admin"}, [200, 403, 403, 404, 401]),
    ("remove member", "delete", "/api/chats/{chat}/members/{other}/", None, [204, 204, 403, 404, 401]),
    ("remove admin", "delete", "/api/chats/{chat}/members/{admin}/", None, [204, 204, 403, 404, 401]),
    # Permission first: only the owner hears that the owner cannot leave.
    ("remove owner", "delete", "/api/chats/{chat}/members/{owner}/", None, [409, 403, 403, 404, 401]),
    ("leave", "delete", "/api/chats/{chat}/members/{self}/", None, [409, 204, 204, 404, 401]),
    ("list messages", "get", "/api/chats/{chat}/messages/", None, [200, 200, 200, 404, 401]),
    ("post message", "post", "/api/chats/{chat}/messages/", {"text": "hi"}, [201, 201, 201, 404, 401]),
    ("edit message", "patch", "/api/chats/{chat}/messages/{message}/", {"text": "edit"}, [403, 403, 200, 404, 401]),
    ("delete message", "delete", "/api/chats/{chat}/messages/{message}/", None, [204, 204, 204, 404, 401]),
]


def _fill(value, ids: dict):
    if isinstance(value, str):
        return value.format(**ids) if "{" in value else value
    if isinstance(value, dict):
        return {key: int(_fill(item, ids)) if key == "user_id" else _fill(item, ids) for key, item in value.items()}
    return value


@pytest.mark.parametrize("role_index, role", list(enumerate(ROLES)))
@pytest.mark.parametrize("name, method, path, body, expected", MATRIX, ids=[row[0] for row in MATRIX])
def test_permission_matrix(
    team, make_user, api_client, client_for, name, method, path, body, expected, role_index, role
):
    other = make_user()
    chat_member_add(chat=team.chat, user=other, added_by=team.owner)
    message, _ = message_create(chat_id=team.chat.pk, author=team.member, text="by member")
    actor = team.user(role)
    ids = {
        "chat": team.chat.pk,
        "newcomer": make_user().pk,
        "other": other.pk,
        "admin": team.admin.pk,
        "owner": team.owner.pk,
        "message": message.pk,
        "self": actor.pk if actor else team.member.pk,
    }
    client = client_for(actor) if actor else api_client
    response = getattr(client, method)(_fill(path, ids), _fill(body, ids), format="json")
    assert response.status_code == expected[role_index], (name, role, response.content)
    if response.status_code >= 400:
        assert response.json()["message"]
