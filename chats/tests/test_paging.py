import pytest

from chats.services import message_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def sixty_messages(team) -> list[int]:
    return [message_create(chat_id=team.chat.pk, author=team.member, text=f"m{i}")[0].pk for i in range(60)]


def test_newest_page_is_oldest_to_newest(team, client_for, sixty_messages):
    body = client_for(team.member).get(f"/api/chats/{team.chat.pk}/messages/?limit=10").json()
    assert [m["id"] for m in body["results"]] == sixty_messages[-10:]
    assert body["has_older"] is True and body["has_newer"] is False


@pytest.mark.parametrize("limit", [1, 7, 25, 100])
def test_walking_back_with_before_has_no_gap_and_no_overlap(team, client_for, sixty_messages, limit):
    client = client_for(team.member)
    url = f"/api/chats/{team.chat.pk}/messages/"
    seen: list[int] = []
    body = client.get(url, {"limit": limit}).json()
    while True:
        seen = [m["id"] for m in body["results"]] + seen
        if not body["has_older"]:
            break
        body = client.get(url, {"limit": limit, "before": body["results"][0]["id"]}).json()
    assert seen == sixty_messages


@pytest.mark.parametrize("limit", [1, 13, 100])
def test_walking_forward_with_after_has_no_gap_and_no_overlap(team, client_for, sixty_messages, limit):
    client = client_for(team.member)
    url = f"/api/chats/{team.chat.pk}/messages/"
    seen: list[int] = []
    cursor = 0
    while True:
        body = client.get(url, {"limit": limit, "after": cursor}).json()
        seen += [m["id"] for m in body["results"]]
        if not body["has_newer"]:
            break
        cursor = body["results"][-1]["id"]
    assert seen == sixty_messages


def test_after_picks_up_messages_posted_since(team, client_for, sixty_messages):
    client = client_for(team.member)
    url = f"/api/chats/{team.chat.pk}/messages/"
    newest = sixty_messages[-1]
    assert client.get(url, {"after": newest}).json()["results"] == []
    new = message_create(chat_id=team.chat.pk, author=team.admin, text="late")[0]
    assert [m["id"] for m in client.get(url, {"after": newest}).json()["results"]] == [new.pk]
