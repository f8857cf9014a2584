"""The missed-message digest end to end: messages → celery beat's sweep on a real worker →
the read state checked when the window is due → one email at a real SMTP server.

In the tests a window of N "minutes" lasts N seconds (NOTIFICATIONS_DIGEST_MINUTE_SECONDS=1
in the worker's environment) and beat sweeps every second.
"""

import time
from urllib.parse import urlsplit

import pytest

from chats.services import chat_create, message_create
from notifications.digest.models import Digest, DigestSettings
from notifications.digest.services import digest_message_id, digest_settings_update, unsubscribe_url
from reads.services import read_marker_move
from testing.background import Mail
from testing.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

WINDOW = 2  # "minutes", that is seconds here


def _digests(mails: list[Mail], user=None) -> list[Mail]:
    return [m for m in mails if m.message_id.startswith("<digest.") and (user is None or user.email in m.rcpt_tos)]


def _post(chat, author, text):
    return message_create(chat_id=chat.pk, author=author, text=text)[0]


@pytest.fixture
def windows(team):
    for user in (team.owner, team.admin, team.member, team.outsider):
        digest_settings_update(user=user, enabled=True, window_minutes=WINDOW)


def _settle(mailbox, broker, seconds=WINDOW + 3):
    """Long enough for every window opened so far to be due, swept and sent."""
    time.sleep(seconds)
    broker.wait_idle()


def test_an_offline_member_gets_one_digest_with_exactly_the_unread_messages(
    digest_beat, broker, mailbox, team, windows
):
    _post(team.chat, team.owner, "the plan is ready")
    _post(team.chat, team.admin, f"@{team.member.username} can you review it?")
    _post(team.chat, team.owner, "no rush")
    mailbox.wait_for(lambda mails: _digests(mails, team.member), timeout=30)
    _settle(mailbox, broker)

    [mail] = _digests(mailbox.mails, team.member)
    [digest] = Digest.objects.filter(user=team.member)
    assert mail.message_id == digest_message_id(digest_id=digest.pk)
    assert (digest.state, digest.message_count, digest.mention_count) == ("sent", 3, 1)
    assert mail.subject == "You were mentioned · 3 unread messages in 1 chat"
    text = mail.body("plain")
    mention, ready, rush = (text.index(s) for s in ("can you review", "the plan is ready", "no rush"))
    assert mention < ready < rush, "mentions first, then in order"
    assert "[@you]" in text and "Team" in text
    assert "can you review" in mail.body("html")
    assert str(mail.message["List-Unsubscribe"]).strip() == f"<{unsubscribe_url(user=team.member)}>"
    # Everyone gets what they did not write: the owner the admin's message, the admin the owner's.
    [owner_mail] = _digests(mailbox.mails, team.owner)
    assert "can you review" in owner_mail.body("plain") and "no rush" not in owner_mail.body("plain")
    [admin_mail] = _digests(mailbox.mails, team.admin)
    assert "no rush" in admin_mail.body("plain") and "can you review" not in admin_mail.body("plain")
    assert not _digests(mailbox.mails, team.outsider)
    assert len(_digests(mailbox.mails)) == 3


def test_a_member_who_reads_before_the_delay_gets_none(digest_beat, broker, mailbox, team, windows):
    for user in (team.member, team.admin):
        digest_settings_update(user=user, window_minutes=4)
    first = _post(team.chat, team.owner, "read me soon")
    last = _post(team.chat, team.owner, "and me")
    wait_until(lambda: Digest.objects.filter(user=team.member).exists(), timeout=15, what="the member's window")
    read_marker_move(chat_id=team.chat.pk, user=team.member, up_to=last.pk)
    read_marker_move(chat_id=team.chat.pk, user=team.admin, up_to=first.pk)
    _settle(mailbox, broker, seconds=4 + 3)
    assert not _digests(mailbox.mails, team.member)
    assert Digest.objects.get(user=team.member).state == "empty"
    [admin_mail] = _digests(mailbox.mails, team.admin)
    assert "and me" in admin_mail.body("plain") and "read me soon" not in admin_mail.body("plain")


def test_two_messages_in_one_window_make_one_email_and_a_later_one_another(digest_beat, broker, mailbox, team, windows):
    direct = chat_create(created_by=team.owner, kind="direct", member_ids=[team.member.pk])
    _post(direct, team.owner, "first")
    _post(direct, team.owner, "second")
    mailbox.wait_for(lambda mails: _digests(mails, team.member), timeout=30)
    _settle(mailbox, broker)
    [mail] = _digests(mailbox.mails, team.member)
    assert "first" in mail.body("plain") and "second" in mail.body("plain")

    _post(direct, team.owner, "third")  # a new window, with only what is new
    mailbox.wait_for(lambda mails: len(_digests(mails, team.member)) >= 2, timeout=30)
    _settle(mailbox, broker)
    first, second = _digests(mailbox.mails, team.member)
    assert "third" in second.body("plain") and "first" not in second.body("plain")
    assert first.message_id != second.message_id


def test_the_unsubscribe_link_works_without_signing_in(digest_beat, broker, mailbox, team, windows, client):
    _post(team.chat, team.owner, "hello")
    mailbox.wait_for(lambda mails: _digests(mails, team.member), timeout=30)
    [mail] = _digests(mailbox.mails, team.member)
    link = str(mail.message["List-Unsubscribe"]).strip().strip("<>")
    assert link in mail.body("plain")
    path = urlsplit(link).path

    page = client.get(path)  # not signed in; a GET (a link scanner) changes nothing
    assert page.status_code == 200 and b"Turn them off" in page.content
    assert DigestSettings.objects.get(user=team.member).enabled
    assert client.post(path).status_code == 200
    assert not DigestSettings.objects.get(user=team.member).enabled
    assert client.post(path[:-3] + "xx/").status_code == 400, "a tampered link does nothing"

    _settle(mailbox, broker)
    mailbox.reset()
    _post(team.chat, team.owner, "after unsubscribing")
    mailbox.wait_for(lambda mails: _digests(mails, team.admin), timeout=30)
    _settle(mailbox, broker)
    assert not _digests(mailbox.mails, team.member)


def test_smtp_down_for_a_while_then_one_digest(digest_beat, broker, mailbox, team, windows):
    mailbox.stop()
    _post(team.chat, team.owner, "sent during an outage")
    wait_until(
        lambda: Digest.objects.filter(user=team.member, attempts__gte=2).exists(), timeout=40, what="two failed tries"
    )
    mailbox.start()
    mailbox.wait_for(lambda mails: _digests(mails, team.member), timeout=40)
    _settle(mailbox, broker)
    assert len(_digests(mailbox.mails, team.member)) == 1
    digest = Digest.objects.get(user=team.member)
    assert digest.state == "sent" and "Connection" in digest.last_error


@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_a_send_still_makes_one_email(
    digest_beat, bulk_worker, broker, mailbox, team, windows
):
    mailbox.handler.stall[team.member.email] = 60  # the server hangs in the middle of this send
    _post(team.chat, team.owner, "survives a crash")
    mailbox.wait_stalled(team.member.email, timeout=40)
    bulk_worker.kill()  # digests are sent by the bulk queue's worker
    assert Digest.objects.get(user=team.member).state == "open"

    bulk_worker.start()  # the killed task's message comes back after the visibility timeout
    mailbox.wait_for(lambda mails: _digests(mails, team.member), timeout=90)
    _settle(mailbox, broker)
    assert len(_digests(mailbox.mails, team.member)) == 1
    assert Digest.objects.get(user=team.member).state == "sent"


def test_settings_api(client_for, team):
    client = client_for(team.member)
    # Off until the user turns it on: the digest carries other people's text.
    assert client.get("/api/notifications/settings/").json() == {"enabled": False, "window_minutes": 5}
    response = client.patch("/api/notifications/settings/", {"enabled": True, "window_minutes": 30}, format="json")
    assert response.json() == {"enabled": True, "window_minutes": 30}
    assert client.patch("/api/notifications/settings/", {"enabled": False}, format="json").json()["enabled"] is False
    assert client.patch("/api/notifications/settings/", {"window_minutes": 0}, format="json").status_code == 400
