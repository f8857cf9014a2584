"""Read markers: forward only, members only, counts right under concurrent posts, events."""

import threading

import pytest
from django.db import connection, connections

from chats.services import chat_create, chat_member_add, chat_member_remove, message_create
from reads.mentions import mentioned_usernames, mentions_for
from reads.models import ReadMarker
from reads.selectors import chat_read_states
from realtime.models import Event

pytestmark = pytest.mark.django_db


def _post(chat, author, text="hi"):
    return message_create(chat_id=chat.pk, author=author, text=text)[0]


def _chat_row(client, chat_id):
    [row] = [c for c in client.get("/api/chats/").json()["results"] if c["id"] == chat_id]
    return row


def test_unread_counts_others_messages_after_the_marker(team, client_for):
    member = client_for(team.member)
    assert _chat_row(member, team.chat.pk)["unread_count"] == 0
    first = _post(team.chat, team.owner)
    _post(team.chat, team.admin)
    _post(team.chat, team.member, "my own message is not unread")
    row = _chat_row(member, team.chat.pk)
    assert (row["unread_count"], row["mention_count"], row["unread_more"]) == (2, 0, False)

    response = member.post(f"/api/chats/{team.chat.pk}/read/", {"up_to": first.pk}, format="json")
    assert response.status_code == 200
    assert response.json()["last_read_id"] == first.pk
    assert response.json()["unread_count"] == 1


def test_marker_never_moves_back_nor_past_the_newest_message(team, client_for):
    member = client_for(team.member)
    first, second = _post(team.chat, team.owner), _post(team.chat, team.owner)
    url = f"/api/chats/{team.chat.pk}/read/"
    assert member.post(url, {"up_to": second.pk}, format="json").json()["last_read_id"] == second.pk
    mark = Event.objects.order_by("-id").values_list("id", flat=True).first()
    assert member.post(url, {"up_to": first.pk}, format="json").json()["last_read_id"] == second.pk
    assert not Event.objects.filter(id__gt=mark).exists(), "a marker that did not move is no event"
    # A future id is clamped to the newest message: later messages still count as unread.
    assert member.post(url, {"up_to": 10**12}, format="json").json()["last_read_id"] == second.pk
    _post(team.chat, team.owner)
    assert _chat_row(member, team.chat.pk)["unread_count"] == 1


def test_only_members_move_markers(team, client_for, api_client):
    message = _post(team.chat, team.owner)
    url = f"/api/chats/{team.chat.pk}/read/"
    assert client_for(team.outsider).post(url, {"up_to": message.pk}, format="json").status_code == 404
    assert client_for(team.outsider).get(f"/api/chats/{team.chat.pk}/reads/").status_code == 404
    assert api_client.post(url, {"up_to": message.pk}, format="json").status_code == 401
    assert client_for(team.member).post(url, {"up_to": -1}, format="json").status_code == 400
    assert client_for(team.member).post("/api/chats/999999/read/", {"up_to": 1}, format="json").status_code == 404
    assert not ReadMarker.objects.filter(user=team.outsider).exists()


def test_read_event_reaches_members_and_read_by_counts(team, client_for):
    message = _post(team.chat, team.owner)
    mark = Event.objects.order_by("-id").values_list("id", flat=True).first()
    client_for(team.member).post(f"/api/chats/{team.chat.pk}/read/", {"up_to": message.pk}, format="json")
    [event] = Event.objects.filter(id__gt=mark)
    assert event.type == "read.updated"
    assert event.data == {"chat_id": team.chat.pk, "user_id": team.member.pk, "last_read_id": message.pk}
    assert event.to_members and event.also_to == []
    markers = client_for(team.owner).get(f"/api/chats/{team.chat.pk}/reads/").json()
    read_by = [m["user_id"] for m in markers if m["last_read_id"] >= message.pk and m["user_id"] != team.owner.pk]
    assert read_by == [team.member.pk]


def test_in_a_big_chat_the_read_event_goes_to_the_reader_only(team, client_for, settings):
    settings.READS_BROADCAST_MAX_MEMBERS = 2
    message = _post(team.chat, team.owner)
    mark = Event.objects.order_by("-id").values_list("id", flat=True).first()
    client_for(team.member).post(f"/api/chats/{team.chat.pk}/read/", {"up_to": message.pk}, format="json")
    [event] = Event.objects.filter(id__gt=mark)
    assert not event.to_members and event.also_to == [team.member.pk]


def test_a_new_member_starts_with_the_history_read(team, make_user, client_for):
    _post(team.chat, team.owner)
    newcomer = make_user()
    chat_member_add(chat=team.chat, user=newcomer, added_by=team.owner)
    assert _chat_row(client_for(newcomer), team.chat.pk)["unread_count"] == 0
    _post(team.chat, team.owner)
    assert _chat_row(client_for(newcomer), team.chat.pk)["unread_count"] == 1
    # Leaving drops the marker with the membership.
    chat_member_remove(chat=team.chat, user_id=newcomer.pk, actor=newcomer)
    assert not ReadMarker.objects.filter(user=newcomer).exists()


def test_count_is_capped_and_says_so(team, client_for, settings):
    settings.READS_COUNT_CAP = 5
    for n in range(7):
        _post(team.chat, team.owner, f"m{n}")
    row = _chat_row(client_for(team.member), team.chat.pk)
    assert (row["unread_count"], row["unread_more"]) == (5, True)


def test_mentions_count_only_for_the_mentioned_member(team, client_for, make_user):
    _post(team.chat, team.owner, f"hey @{team.member.username}, look")
    _post(team.chat, team.owner, f"@{team.member.username.upper()}: case does not matter")
    _post(team.chat, team.owner, f"not a mention: mail{team.member.username}@x and @{team.member.username}x")
    _post(team.chat, team.owner, f"@{team.admin.username}.")
    member = _chat_row(client_for(team.member), team.chat.pk)
    admin = _chat_row(client_for(team.admin), team.chat.pk)
    assert (member["unread_count"], member["mention_count"]) == (4, 2)
    assert admin["mention_count"] == 1


def test_mentions_for_lists_members_only():
    assert mentioned_usernames("hi @Ann. and @bob.smith, x@y, @carl-") == {"ann.", "ann", "bob.smith", "carl-"}


def test_mentions_for_resolves_members(team, make_user):
    stranger = make_user()
    text = f"@{team.member.username} @{team.admin.username}! @{stranger.username}"
    assert mentions_for(text, team.chat) == sorted([team.member.pk, team.admin.pk])
    assert mentions_for("no at sign", team.chat) == []


def test_chat_list_read_state_is_one_query(team, make_user, django_assert_num_queries):
    for n in range(3):
        chat = chat_create(created_by=team.owner, title=f"c{n}", member_ids=[team.member.pk])
        _post(chat, team.owner)
    with django_assert_num_queries(1):
        states = chat_read_states(user=team.member)
    assert {s.unread_count for c, s in states.items() if c != team.chat.pk} == {1}


@pytest.mark.django_db(transaction=True)
def test_unread_counts_stay_right_under_concurrent_posts_and_reads(make_user):
    """Eight posters and a reader moving its marker at the same time: afterwards the count
    is exactly the messages above the marker, and the marker only ever went up."""
    owner, reader = make_user(), make_user()
    posters = [make_user() for _ in range(8)]
    chat = chat_create(created_by=owner, title="busy", member_ids=[reader.pk, *(p.pk for p in posters)])
    per_poster = 15
    seen_markers: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def post(user):
        try:
            for n in range(per_poster):
                message_create(chat_id=chat.pk, author=user, text=f"{user.pk}-{n}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def read():
        from reads.services import read_marker_move

        try:
            while not done.is_set():
                newest = chat.messages.order_by("-id").values_list("id", flat=True).first() or 0
                seen_markers.append(read_marker_move(chat_id=chat.pk, user=reader, up_to=newest // 2 * 2).last_read_id)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    reader_thread = threading.Thread(target=read)
    reader_thread.start()
    threads = [threading.Thread(target=post, args=(p,)) for p in posters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    done.set()
    reader_thread.join(60)
    assert not errors, errors
    assert seen_markers == sorted(seen_markers), "the marker went back"
    marker = ReadMarker.objects.get(user=reader, chat=chat).last_read_id
    expected = chat.messages.filter(id__gt=marker).count()
    state = chat_read_states(user=reader)[chat.pk]
    assert state.unread_count == min(expected, 100)
    assert chat.messages.count() == 8 * per_poster
    connection.close()
