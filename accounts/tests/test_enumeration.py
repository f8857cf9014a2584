"""Nobody learns who has an account: sign-up answers alike whether the username or email is
taken (an email tells the outcome: the address's owner hears that someone tried), and chat
creation does not say which user ids are not users."""

import pytest

from accounts.models import User

STRONG = "correct-horse-battery-9"


def _register(client, username: str, email: str):
    return client.post("/api/auth/register/", {"username": username, "email": email, "password": STRONG}, format="json")


@pytest.mark.django_db
def test_register_answers_alike_for_new_and_taken_usernames_and_emails(api_client, make_user):
    make_user("carol", email="carol@example.com")
    answers = [
        _register(api_client, "dave", "dave@example.com"),  # new
        _register(api_client, "carol", "erin@example.com"),  # username taken
        _register(api_client, "frank", "CAROL@example.com"),  # email taken
        _register(api_client, "Carol", "carol@example.com"),  # both
    ]
    assert {(a.status_code, a.content) for a in answers} == {(answers[0].status_code, answers[0].content)}
    assert answers[0].status_code == 202
    assert "carol" not in answers[0].content.decode().lower()
    assert set(User.objects.values_list("username", flat=True)) == {"carol", "dave"}


@pytest.mark.django_db
def test_a_weak_password_is_still_refused_at_once(api_client):
    response = api_client.post(
        "/api/auth/register/", {"username": "bob", "email": "bob@example.com", "password": "123"}, format="json"
    )
    assert response.status_code == 400
    assert "password" in response.json()["extra"]["fields"]


def test_the_owner_of_a_taken_address_is_told_by_email(worker, mailbox, api_client, make_user, transactional_db):
    make_user("gina", email="gina@example.com")
    assert _register(api_client, "mallory", "GINA@example.com").status_code == 202
    assert _register(api_client, "gina", "hank@example.com").status_code == 202
    mails = mailbox.wait_for(lambda mails: len(mails) >= 2)
    by_address = {tuple(mail.rcpt_tos): mail for mail in mails}
    assert "gina" in by_address[("gina@example.com",)].body()  # "someone tried, your username is gina"
    assert "taken" in by_address[("hank@example.com",)].subject
    assert "gina@example.com" not in by_address[("hank@example.com",)].body()


@pytest.mark.django_db
def test_chat_creation_does_not_say_which_ids_are_users(team, client_for, make_user):
    inactive = make_user(is_active=False)
    owner = client_for(team.owner)
    answers = [
        owner.post("/api/chats/", {"title": "t", "member_ids": [team.member.pk, other]}, format="json")
        for other in (inactive.pk, 987654, inactive.pk + 1000)
    ]
    assert {a.status_code for a in answers} == {400}
    assert len({a.content for a in answers}) == 1
    body = answers[0].content.decode()
    assert str(inactive.pk) not in body and "987654" not in body
