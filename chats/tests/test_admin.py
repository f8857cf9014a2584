"""The Django admin writes through the services: their events, their refusals, never a 500."""

import pytest

from chats.models import Membership, Message
from realtime.models import Event

pytestmark = pytest.mark.django_db


def test_admin_adds_a_message_through_the_service(admin_client, team):
    response = admin_client.post(
        "/admin/chats/message/add/", {"chat": team.chat.pk, "author": team.member.pk, "text": "from the admin"}
    )
    assert response.status_code == 302, response.content
    message = Message.objects.get(text="from the admin")
    assert Event.objects.filter(type="message.created", data__id=message.pk).exists()


def test_deleting_the_owners_membership_is_refused_with_a_message(admin_client, team):
    owner = Membership.objects.get(chat=team.chat, user=team.owner)
    response = admin_client.post(f"/admin/chats/membership/{owner.pk}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert "The owner cannot leave the chat" in response.content.decode()
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_a_second_owner_cannot_be_made(admin_client, team):
    member = Membership.objects.get(chat=team.chat, user=team.member)
    response = admin_client.post(f"/admin/chats/membership/{member.pk}/change/", {"role": "owner"}, follow=True)
    assert response.status_code == 200
    assert "A member&#x27;s role is admin or member." in response.content.decode()
    assert Membership.objects.get(pk=member.pk).role == Membership.Role.MEMBER


def test_the_event_log_is_read_only_in_the_admin(admin_client):
    assert admin_client.get("/admin/realtime/event/add/").status_code == 403
