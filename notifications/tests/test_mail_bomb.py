"""A scripted mail-bombing attempt (issue 18): one account tries every trick to flood
strangers' mailboxes through chats; each victim gets at most the hourly limit, counted at
the real SMTP server. The figures are printed (run with -s)."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from chats.models import Membership
from notifications.digest.services import digest_sweep
from notifications.models import MemberAddedSummary, SentNotification

pytestmark = pytest.mark.django_db(transaction=True)

Policy = User.ChatAddPolicy
ROUNDS = 35  # add and remove the puppet this many times, in each of three bursts


def test_one_account_with_every_trick_delivers_at_most_the_limit_to_any_victim(
    worker, broker, mailbox, make_user, client_for, settings
):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "member_add": "60/min"}  # production
    settings.CHAT_ADMIN_MIN_TENURE_SECONDS = 24 * 3600  # production
    limit = settings.NOTIFICATIONS_MEMBER_ADDED_PER_HOUR  # the worker's too (same default)
    attacker, puppet = make_user(username="attacker"), make_user(username="puppet")
    open_victims = [make_user(username=f"victim{n}") for n in range(3)]  # default: everyone may add them
    careful = make_user(username="careful", chat_add_policy=Policy.SHARED)
    hermit = make_user(username="hermit", chat_add_policy=Policy.NOBODY)
    victims = [*open_victims, careful, hermit]
    client = client_for(attacker)
    statuses: Counter = Counter()

    def call(method: str, path: str, body: dict | None = None) -> dict:
        response = getattr(client, method)(path, body, format="json")
        what = "chats" if path == "/api/chats/" else path.split("/")[4]
        statuses[f"{method} {what} {response.status_code}"] += 1
        assert response.status_code < 500, response.content
        return response.json() if response.content else {}

    # 1. A chat with strangers, a title that reads like a phishing subject.
    call("post", "/api/chats/", {"title": "Your account is locked: click", "member_ids": [v.pk for v in victims]})
    chat = call("post", "/api/chats/", {"title": "Your account is locked", "member_ids": [v.pk for v in open_victims]})
    chat_id = chat["id"]
    # 2. Promote them to admin (so that every addition emails them), or add them as admins.
    for victim in victims:
        call("patch", f"/api/chats/{chat_id}/members/{victim.pk}/", {"role": "admin"})
        call("post", f"/api/chats/{chat_id}/members/", {"user_id": victim.pk, "role": "admin"})

    def puppet_rounds(rounds: int = ROUNDS) -> None:
        for _ in range(rounds):
            call("post", f"/api/chats/{chat_id}/members/", {"user_id": puppet.pk})
            broker.wait_idle()  # a patient attacker: the emails go out before the puppet leaves
            call("delete", f"/api/chats/{chat_id}/members/{puppet.pk}/")

    # 3. Add and remove a puppet again and again, faster than the member-add throttle allows.
    puppet_rounds(70)
    # 4. A day later (time moved, throttle window over): now they may be promoted; again.
    Membership.objects.filter(chat_id=chat_id).update(joined_at=timezone.now() - timedelta(days=2))
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "member_add": "1000/min"}  # as if it waited
    for victim in open_victims:
        call("patch", f"/api/chats/{chat_id}/members/{victim.pk}/", {"role": "admin"})
    puppet_rounds()
    puppet_rounds()
    # 5. The attacker talks in the chat: the digest would carry the text to everyone.
    for n in range(5):
        call("post", f"/api/chats/{chat_id}/messages/", {"text": f"urgent {n}: http://phish.example"})
    assert digest_sweep()["opened"] == 0, "the digest is off until each user turns it on"

    rows = SentNotification.objects.filter(recipient__in=victims)
    wait_until_settled(rows)
    broker.wait_idle()
    received = Counter(address for mail in mailbox.mails for address in mail.rcpt_tos)
    per_victim = {v.username: received[v.email] for v in victims}
    summaries = {v.username: MemberAddedSummary.objects.filter(recipient=v).count() for v in victims}
    print(f"\nrequests: {dict(sorted(statuses.items()))}")
    print(f"emails received per victim: {per_victim}; summaries waiting: {summaries}")
    assert all(count <= limit for count in per_victim.values()), per_victim
    assert per_victim["careful"] == per_victim["hermit"] == 0
    assert not Membership.objects.filter(user__in=[careful, hermit]).exists()
    assert statuses["post members 429"] > 0, "the member-add throttle stopped the first burst"
    assert statuses["patch members 403"] == len(open_victims), "no promotion before the tenure"
    assert statuses["post members 403"] == len(victims), "nobody added as an admin straight away"
    assert statuses["post chats 403"] == 1, "the careful and the hermit refuse strangers"
    # Past the limit, the rest waits for one summary per victim (sent when the hour has room;
    # additions whose member is gone by then drop out of it).
    assert all(received[v.email] == limit for v in open_victims), "the limit is reached, not more"


def wait_until_settled(rows) -> None:
    from testing.processes import wait_until

    wait_until(
        lambda: not rows.filter(sent_at__isnull=True, summary__isnull=True, failed_at__isnull=True).exists(),
        timeout=120,
        what="every victim's email sent or summarised",
    )
