"""The event contract: OpenAPI documents every event type, and the validator that checks
every test's events refuses what breaks it."""

import pytest

from realtime.contract import event_errors, feed_event_components
from realtime.events import EVENT_DATA, EventType


def test_every_event_type_has_a_typed_data_shape():
    assert set(EVENT_DATA) == set(EventType.__args__)


@pytest.mark.django_db
def test_openapi_documents_the_feed_events_as_a_discriminated_union(client_for, team):
    schema = client_for(team.member).get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    union = components["FeedEvent"]
    assert union["discriminator"]["propertyName"] == "type"
    assert set(union["discriminator"]["mapping"]) == set(EVENT_DATA)
    for name, component in feed_event_components().items():
        assert components[name] == component
    page = components["FeedPage"]["properties"]["events"]["items"]
    assert page == {"$ref": "#/components/schemas/FeedEvent"}


def _envelope(type_, data):
    return {"type": type_, "chat_id": 1, "id": 7, "data": data, "ts": "2026-12-01T07:00:00+00:00"}


def test_the_validator_refuses_what_breaks_the_contract():
    good = {"chat_id": 1, "user_id": 2, "last_read_id": 3}
    assert event_errors(_envelope("read.updated", good)) == []
    assert event_errors(_envelope("read.updated", good | {"surprise": 1}))  # undeclared field
    assert event_errors(_envelope("read.updated", {"chat_id": 1, "user_id": 2}))  # missing field
    assert event_errors(_envelope("read.updated", good | {"user_id": "2"}))  # wrong type
    assert event_errors(_envelope("message.exploded", {}))  # unknown type
    assert event_errors(_envelope("chat.deleted", {"id": 1}) | {"extra": True})  # envelope field


@pytest.mark.django_db
def _attachment_events(team) -> None:
    """attachment.created, then attachment.updated (attachments app)."""
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from attachments.services import attachment_thumbnail_set, attachment_upload

    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    upload = SimpleUploadedFile("a.png", png.getvalue())
    attachment, _ = attachment_upload(chat_id=team.chat.pk, author=team.member, upload=upload)
    attachment_thumbnail_set(attachment_id=attachment.pk, thumbnail=None)


def test_events_made_by_every_service_pass(team, make_user, client_for):
    """The services' events against the contract (the autouse check covers every test; this
    one makes one of each type on purpose)."""
    from chats import services
    from reactions.services import reaction_toggle
    from reads.services import read_marker_move
    from realtime.contract import event_validate
    from realtime.models import Event
    from realtime.services import user_delivery_revoke

    newcomer = make_user()
    message, _ = services.message_create(chat_id=team.chat.pk, author=team.member, text="a", client_id="c1")
    read_marker_move(chat_id=team.chat.pk, user=team.owner, up_to=message.pk)
    reaction_toggle(chat_id=team.chat.pk, message_id=message.pk, user=team.owner, emoji="👍")
    services.message_update(message=message, actor=team.member, text="b")
    services.message_delete(message=message, actor=team.admin)
    services.chat_update(chat=team.chat, actor=team.owner, title="Renamed")
    services.chat_member_add(chat=team.chat, user=newcomer, added_by=None)
    services.chat_member_update(chat=team.chat, user_id=newcomer.pk, role="admin", actor=team.owner)
    services.chat_member_remove(chat=team.chat, user_id=newcomer.pk, actor=team.owner)
    _attachment_events(team)
    services.chat_delete(chat=team.chat, actor=team.owner)
    user_delivery_revoke(user_id=newcomer.pk, reason="logged out")
    types = set()
    for event in Event.objects.order_by("id"):
        event_validate(event.envelope())
        types.add(event.type)
    assert types == set(EVENT_DATA)
