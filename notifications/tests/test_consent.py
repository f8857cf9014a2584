"""Consent to chat membership (issue 18): who may add me to chats, chat creation throttled
like member add, roles above member only after a while in the chat."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from chats.models import Membership
from chats.services import chat_create

Policy = User.ChatAddPolicy
pytestmark = pytest.mark.django_db


def _create(client, *member_ids, title="t"):
    return client.post("/api/chats/", {"title": title, "member_ids": list(member_ids)}, format="json")


def _add(client, chat_id, user_id, role="member"):
    return client.post(f"/api/chats/{chat_id}/members/", {"user_id": user_id, "role": role}, format="json")


def test_nobody_means_nobody_adds_me(make_user, client_for):
    adder, hermit = make_user(), make_user(chat_add_policy=Policy.NOBODY)
    client = client_for(adder)
    response = _create(client, hermit.pk)
    assert response.status_code == 403, response.content
    assert response.json()["extra"]["fields"]["user_id"] == [f"User {hermit.pk} does not accept this."]
    chat = _create(client).json()
    assert _add(client, chat["id"], hermit.pk).status_code == 403
    assert not Membership.objects.filter(user=hermit).exists()


def test_shared_means_only_people_i_already_share_a_chat_with(make_user, client_for):
    stranger, friend, careful = make_user(), make_user(), make_user(chat_add_policy=Policy.SHARED)
    assert _create(client_for(stranger), careful.pk).status_code == 403
    chat_create(created_by=careful, title="ours", member_ids=[friend.pk])  # careful's own choice
    response = _create(client_for(friend), careful.pk, title="another")
    assert response.status_code == 201, response.content
    assert _add(client_for(stranger), _create(client_for(stranger)).json()["id"], careful.pk).status_code == 403


def test_everyone_is_the_default_and_the_user_changes_it(make_user, client_for):
    adder, person = make_user(), make_user()
    assert _create(client_for(adder), person.pk).status_code == 201
    own = client_for(person)
    assert own.get("/api/me/chat-add-policy/").json() == {"chat_add_policy": "everyone"}
    assert own.patch("/api/me/chat-add-policy/", {"chat_add_policy": "nobody"}, format="json").status_code == 200
    assert own.patch("/api/me/chat-add-policy/", {"chat_add_policy": "all"}, format="json").status_code == 400
    assert _create(client_for(adder), person.pk).status_code == 403
    # The same token reads its own change at once: its user was cached by the first GET
    # (accounts.token_cache), and the change drops that copy.
    assert own.get("/api/me/chat-add-policy/").json() == {"chat_add_policy": "nobody"}


def test_chat_creation_spends_the_member_add_budget_per_member(make_user, client_for, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "member_add": "5/min"}
    adder, others = make_user(), [make_user() for _ in range(6)]
    client = client_for(adder)
    assert _create(client, *[u.pk for u in others[:3]]).status_code == 201  # 3 of 5
    refused = _create(client, *[u.pk for u in others[3:]])  # 3 more: over
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert set(refused.json()) == {"message", "extra"}
    chat_id = _create(client, others[3].pk).json()["id"]  # 1 more: 4 of 5
    assert _add(client, chat_id, others[4].pk).status_code == 201  # 5 of 5
    assert _add(client, chat_id, others[5].pk).status_code == 429  # member add shares the budget


def test_a_newcomer_is_not_made_admin_until_a_while_in_the_chat(make_user, client_for, settings):
    settings.CHAT_ADMIN_MIN_TENURE_SECONDS = 24 * 3600
    owner, victim, old_timer = make_user(), make_user(), make_user()
    client = client_for(owner)
    chat_id = _create(client, victim.pk, old_timer.pk).json()["id"]
    assert _add(client, chat_id, make_user().pk, role="admin").status_code == 403  # straight in as admin
    promote = client.patch(f"/api/chats/{chat_id}/members/{victim.pk}/", {"role": "admin"}, format="json")
    assert promote.status_code == 403, promote.content
    assert promote.json()["extra"] == {"min_tenure_seconds": 24 * 3600}
    Membership.objects.filter(user=old_timer).update(joined_at=timezone.now() - timedelta(days=2))
    promote = client.patch(f"/api/chats/{chat_id}/members/{old_timer.pk}/", {"role": "admin"}, format="json")
    assert promote.status_code == 200 and promote.json()["role"] == "admin"
    assert Membership.objects.get(user=victim).role == "member"
