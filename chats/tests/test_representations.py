"""The plain representation functions answer exactly what the OpenAPI serializers describe."""

import pytest

from chats.representations import chat_data, membership_data, message_data
from chats.serializers import ChatSerializer, MembershipSerializer, MessageSerializer
from chats.services import message_create, message_delete, message_update

pytestmark = pytest.mark.django_db


def test_representations_equal_the_serializers(team):
    message, _ = message_create(chat_id=team.chat.pk, author=team.member, text="hi", client_id="k")
    message = message_update(message=message, actor=team.member, text="edited")
    deleted = message_delete(
        message=message_create(chat_id=team.chat.pk, author=team.admin, text="x")[0], actor=team.admin
    )
    for item in (message, deleted):
        assert message_data(item) == MessageSerializer(item).data
    assert chat_data(team.chat) == ChatSerializer(team.chat).data
    for membership in team.chat.memberships.select_related("user"):
        assert membership_data(membership) == MembershipSerializer(membership).data
