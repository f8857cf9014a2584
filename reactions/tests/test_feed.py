"""reaction.changed reaches the chat's members through the event feed (polling here; SSE and
long polling read the same log), the same data the REST toggle answered, and nobody else."""

import pytest

from chats.services import message_create

# The feed's views read on connections of their own: the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def test_members_get_the_reaction_in_the_feed_and_outsiders_do_not(team, client_for):
    message, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="vote")
    reader, outsider = client_for(team.admin), client_for(team.outsider)
    starts = {c: c.get("/api/updates/").json()["cursor"] for c in (reader, outsider)}
    toggled = client_for(team.member).post(
        f"/api/chats/{team.chat.pk}/messages/{message.pk}/reactions/", {"emoji": "🎉"}, format="json"
    )
    assert toggled.status_code == 200
    page = reader.get("/api/updates/", {"after": starts[reader]}).json()
    assert [(e["type"], e["chat_id"], e["data"]) for e in page["events"]] == [
        ("reaction.changed", team.chat.pk, toggled.json())
    ]
    assert outsider.get("/api/updates/", {"after": starts[outsider]}).json()["events"] == []
