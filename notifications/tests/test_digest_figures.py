"""The digest's figures under failure: many messages in several chats, members who read and
members who do not, an SMTP outage and a worker killed in the middle of a send. Every
member with unread messages gets exactly one digest holding exactly those messages; nobody
else gets one. The figures are printed (run with -s)."""

import random
import re
import time

import pytest

from chats.services import chat_create, message_create
from notifications.digest.models import Digest
from notifications.digest.services import digest_settings_update
from reads.services import read_marker_move
from testing.processes import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WINDOW = 6  # "minutes" = seconds in the tests


def test_digest_figures_under_an_outage_and_a_killed_worker(digest_beat, bulk_worker, broker, mailbox, make_user):
    rng = random.Random(12)
    people = [make_user(username=f"p{n}") for n in range(12)]
    for person in people:
        digest_settings_update(user=person, enabled=True, window_minutes=WINDOW)
    everyone = chat_create(created_by=people[0], title="Everyone", member_ids=[p.pk for p in people])
    half = chat_create(created_by=people[1], title="Half", member_ids=[p.pk for p in people[:6]])
    pair = chat_create(created_by=people[2], kind="direct", member_ids=[people[3].pk])
    chats = {everyone.pk: people, half.pk: people[:6], pair.pk: [people[2], people[3]]}
    readers = {people[4], people[5]}  # have the chats open: read everything at once
    silent = people[11]  # writes but reads nothing; others' messages reach them too

    mailbox.handler.stall[people[7].email] = 60  # this member's send hangs: the worker dies in it
    posted: list = []
    for n in range(60):
        chat_id = rng.choice(list(chats))
        author = rng.choice(chats[chat_id])
        mention = rng.choice(chats[chat_id])
        text = f"m{n:02d} " + (f"@{mention.username} look" if n % 5 == 0 else "news")
        posted.append(message_create(chat_id=chat_id, author=author, text=text)[0])
        for reader in readers & set(chats[chat_id]):
            read_marker_move(chat_id=chat_id, user=reader, up_to=posted[-1].pk)
    expected: dict[str, set[str]] = {}
    for person in people:
        unread = {
            m.text.split()[0]
            for m in posted
            if person in chats[m.chat_id] and m.author_id != person.pk and person not in readers
        }
        if unread:
            expected[person.email] = unread
    assert people[7].email in expected

    def digested(mails: list) -> set[str]:
        return {address for mail in mails if mail.message_id.startswith("<digest.") for address in mail.rcpt_tos}

    def marked_sent() -> set[str]:
        return set(Digest.objects.filter(state=Digest.State.SENT).values_list("user__email", flat=True))

    mailbox.stop()  # an SMTP outage as the windows come due
    wait_until(lambda: Digest.objects.filter(attempts__gte=1).exists(), timeout=60, what="a failed send")
    mailbox.start()
    mailbox.wait_stalled(people[7].email, timeout=60)
    # The others' digests sent and marked first. A worker killed while another of its
    # processes has had a mail accepted but not yet marked its digest sent sends that one
    # twice: the one window no record closes (the same Message-ID makes it one in a mail
    # client). Killed with only the stalled send in flight, it must send each digest once.
    others = set(expected) - {people[7].email}
    wait_until(lambda: marked_sent() >= others, timeout=25, what="the other digests marked sent")
    bulk_worker.kill()  # digests are sent by the bulk queue's worker
    bulk_worker.start()
    mailbox.wait_for(lambda mails: digested(mails) >= set(expected), timeout=120)
    time.sleep(WINDOW + 3)
    broker.wait_idle()

    digests = [m for m in mailbox.mails if m.message_id.startswith("<digest.")]
    received: dict[str, list] = {}
    for mail in digests:
        received.setdefault(mail.rcpt_tos[0], []).append(mail)
    duplicates = sum(len(mails) - 1 for mails in received.values())
    for address, mails in received.items():
        if len(mails) > 1:
            print("DUP", address, [(m.message_id, m.subject) for m in mails])
    wrong = []
    for address, mails in received.items():
        shown = set(re.findall(r"\bm\d\d\b", mails[0].body("plain")))
        if shown != expected.get(address, set()):
            wrong.append(address)
    print(
        f"\ndigest figures: {len(posted)} messages in {len(chats)} chats to {len(people)} members"
        f" ({len(readers)} reading at once); emails expected {len(expected)}, received {len(digests)},"
        f" duplicates {duplicates}, with wrong contents {len(wrong)};"
        f" failed SMTP tries {sum(Digest.objects.values_list('attempts', flat=True))}; worker killed once mid-send"
    )
    assert set(received) == set(expected)
    assert duplicates == 0 and not wrong
    assert silent.email in received
    assert not readers & {p for p in people if p.email in received}
