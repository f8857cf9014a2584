"""The cluster profile (ops/cluster.py) holds together across nodes: what is published
through one web node reaches clients on either Centrifugo node and either feed node, once;
presence, history and idempotency live in the shared Redis engine; a killed Centrifugo node's
clients recover on the other through nginx; a killed web node, a restarted Redis shard and a
killed worker lose nothing. Every scenario counts accepted, delivered, lost and duplicated per
node into .state/results/cluster.json (CLUSTER_RESULTS: another path).

One cluster for the module (about 20 s to start), each node in a network namespace of its
own when this process may make them, else on loopback addresses.
"""

import contextlib
import itertools
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import cent
import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import User
from accounts.services import token_create
from chats.models import Chat, Membership
from chats.services import chat_create, chat_member_add
from ops.cluster import ClusterConfig, ClusterRun, Layout, free_subnet, namespaces_down, namespaces_up
from realtime.tokens import connection_token_issue, subscription_token_issue
from testing.centrifugo import ChannelClient
from testing.processes import free_port, wait_until

# One process of the parallel run takes the module (its cluster is one module-scoped fixture).
pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.xdist_group("cluster")]

# Under the ignored state folder, so that a test run leaves the tree clean; the committed
# bench/results/cluster.json is a run kept on purpose: CLUSTER_RESULTS=<that path>.
RESULTS_PATH = Path(os.environ.get("CLUSTER_RESULTS") or Path(settings.STATE_DIR) / "results" / "cluster.json")
RESULTS: dict[str, Any] = {}
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker) -> Iterator[ClusterRun]:
    prefix, subnet = free_subnet()
    # CLUSTER_LOOPBACK=1 runs the fallback (distinct loopback addresses) on purpose.
    isolated = namespaces_up(prefix=prefix, subnet=subnet, loopback=os.environ.get("CLUSTER_LOOPBACK") == "1")
    if not isolated:
        subnet = f"127.{subnet.split('.')[1]}.0"
    # PgBouncer drops root for the postgres user, who must read its config.
    state = Path(tempfile.mkdtemp(prefix="cluster-", dir="/tmp"))
    state.chmod(0o755)
    static = state / "static"
    from django.core.management import call_command
    from django.test import override_settings

    with override_settings(STATIC_ROOT=static):
        call_command("collectstatic", interactive=False, link=True, verbosity=0)
    config = ClusterConfig(
        layout=Layout.make(isolated=isolated, prefix=prefix, subnet=subnet),
        state_dir=state,
        web_port=free_port(),
        settings_module="messenger.settings.test",
        database=dict(connection.settings_dict),
        redis_prefix=f"test-cluster-{uuid.uuid4().hex[:8]}",
        static_root=static,
        extra_env={
            "TEST_DATABASE_NAME": connection.settings_dict["NAME"],
            # The queues this run's tasks go to (the test sends one itself): under pytest-xdist
            # the nodes would otherwise name the run again, with the worker's suffix twice.
            "CELERY_KEY_PREFIX": settings.CELERY_KEY_PREFIX,
            "REALTIME_SSE_HEARTBEAT_SECONDS": "1",
        },
    )
    run = ClusterRun(config)
    RESULTS.clear()
    RESULTS["topology"] = {
        "addresses": "network namespaces" if isolated else "loopback (no CAP_NET_ADMIN)",
        "subnet": f"{subnet}.0/24",
        "nodes": {node.name: node.address for node in config.layout.nodes},
    }
    try:
        run.start_all()
        yield run
    finally:
        run.stop_all()
        namespaces_down(prefix=prefix, subnet=subnet)
        RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
        RESULTS_PATH.write_text(json.dumps(RESULTS, indent=2) + "\n")
        if not os.environ.get("CLUSTER_KEEP_STATE"):
            shutil.rmtree(state, ignore_errors=True)


def make_user(prefix: str) -> User:
    name = f"{prefix}{next(_numbers)}"
    # Verified, as after the verification email's link: only such an address gets other email.
    return User.objects.create_user(
        username=name, email=f"{name}@example.com", password="pass-word-42", email_verified_at=timezone.now()
    )


class Crowd:
    """Chats, each with a poster and readers; readers watch through Centrifugo clients and
    long-poll feed readers, the posts go through one web node or another."""

    def __init__(self, *, chats: int, readers: int) -> None:
        self.poster = make_user("poster")
        self.poster_token = token_create(user=self.poster)
        self.retries = 0
        self.chats: list[Chat] = []
        self.readers: dict[int, list[User]] = {}
        for _ in range(chats):
            chat = chat_create(created_by=self.poster, title="cluster")
            self.chats.append(chat)
            self.readers[chat.pk] = []
            for _ in range(readers):
                user = make_user("reader")
                chat_member_add(chat=chat, user=user, role=Membership.Role.MEMBER, added_by=self.poster)
                self.readers[chat.pk].append(user)

    def watch(self, stack: contextlib.ExitStack, url: str) -> list[tuple[Chat, ChannelClient]]:
        """A Centrifugo client per reader through `url` (closed with `stack`), all subscribed."""
        pairs = [
            (chat, stack.enter_context(ws_client(url, user, chat)))
            for chat in self.chats
            for user in self.readers[chat.pk]
        ]
        all_subscribed([c for _, c in pairs])
        return pairs

    def post(self, base_url: str, chat: Chat, text: str) -> int | None:
        """The message's id, or None when the POST failed. A 503 (nginx: the node it tried
        died under the request) is retried with the same client_id, as the API says clients
        may: the server keeps one message per client_id, so a retry never duplicates."""
        client_id = str(uuid.uuid4())
        for attempt in range(3):
            if attempt:
                self.retries += 1
                time.sleep(0.2)
            try:
                response = httpx.post(
                    f"{base_url}/api/chats/{chat.pk}/messages/",
                    json={"text": text, "client_id": client_id},
                    headers={"Authorization": f"Token {self.poster_token}"},
                    timeout=10,
                )
            except httpx.HTTPError:
                continue
            if response.status_code in (200, 201):
                return response.json()["id"]
            if response.status_code != 503:
                return None
        return None


def ws_client(url: str, user: User, chat: Chat) -> ChannelClient:
    channel = f"chat:{chat.pk}"
    return ChannelClient(
        url=f"{url.replace('http://', 'ws://')}/connection/websocket",
        channel=channel,
        token=lambda: connection_token_issue(user=user)["token"],
        sub_token=lambda: subscription_token_issue(user=user, channel=channel)["token"],
        max_reconnect_delay=0.5,
    )


def all_subscribed(clients: list[ChannelClient]) -> None:
    def done() -> bool:
        return all(c.subscribed for c in clients)

    try:
        wait_until(done, timeout=30, what="every client subscribed")
    except TimeoutError as exc:
        late = [c for c in clients if not c.subscribed]
        raise AssertionError(
            f"{len(late)} not subscribed; {late[0].url}: {late[0].errors[:3]} {late[0].disconnected[:3]}"
        ) from exc


def message_ids(client: ChannelClient) -> list[int]:
    return [event["data"]["id"] for event in client.events("message.created")]


def tally(expected: set[int], received: list[int]) -> dict[str, int]:
    seen = Counter(received)
    return {
        "expected": len(expected),
        "delivered": len(expected & set(seen)),
        "lost": len(expected - set(seen)),
        "duplicated": sum(count - 1 for count in seen.values() if count > 1),
    }


def pairs_tally(pairs: list[tuple[Chat, ChannelClient]], expected: dict[int, set[int]]) -> dict[str, int]:
    """`tally` summed over every (chat, client) pair."""
    counts: dict[str, int] = {}
    for chat, client in pairs:
        merge(counts, tally(expected[chat.pk], message_ids(client)))
    return counts


def merge(into: dict[str, int], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        into[key] = into.get(key, 0) + value


class FeedReader(threading.Thread):
    """Long-polls one feed node, past nginx, and records every message.created id."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.ids: list[int] = []
        self.stop = threading.Event()
        self.cursor = 0

    def run(self) -> None:
        with httpx.Client(headers={"Authorization": f"Token {self.token}"}, timeout=15) as client:
            while not self.stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    body = client.get(f"{self.url}/api/updates/", params={"after": self.cursor, "wait": 2}).json()
                    self.ids += [e["data"]["id"] for e in body["events"] if e["type"] == "message.created"]
                    self.cursor = body["cursor"]


def api(run: ClusterRun, node_name: str) -> cent.Client:
    node = run.config.layout.node(node_name)
    return cent.Client(run.config.centrifugo_api_url(node), api_key=settings.CENTRIFUGO_HTTP_API_KEY)


def clients_per_node(run: ClusterRun, *, when: Callable[[dict[str, int]], bool]) -> dict[str, int] | None:
    """Clients per node as the nodes tell each other through Redis (refreshed every few
    seconds), or None while `when` does not hold for them."""
    counts = {n.name: n.num_clients for n in api(run, "centrifugo2").info(cent.InfoRequest()).nodes}
    return counts if when(counts) else None


def test_cross_node_delivery_presence_history_idempotency(cluster, transactional_db):
    """Clients on each Centrifugo node and long-pollers on each feed node, posts alternately
    through web1 and web2 (each node called directly, past nginx): every reader gets every
    message once; presence and history read on one node show the other's clients and
    publications; an idempotency key used on one node drops a repeat sent to the other."""
    layout, config = cluster.config.layout, cluster.config
    crowd = Crowd(chats=4, readers=4)
    centrifugo_nodes, web_nodes, feed_nodes = (layout.of_kind(kind) for kind in ("centrifugo", "web", "feed"))
    clients: dict[str, list[tuple[Chat, ChannelClient]]] = {n.name: [] for n in centrifugo_nodes}
    with contextlib.ExitStack() as stack:
        for chat in crowd.chats:
            for i, user in enumerate(crowd.readers[chat.pk]):
                node = centrifugo_nodes[i % 2]
                clients[node.name].append((chat, stack.enter_context(ws_client(config.url(node), user, chat))))
        all_clients = [client for pairs in clients.values() for _, client in pairs]
        all_subscribed(all_clients)
        feeds = {}
        for node in feed_nodes:
            reader = FeedReader(config.url(node), crowd.poster_token)
            reader.start()
            feeds[node.name] = reader
        sent: dict[str, dict[int, set[int]]] = {n.name: {} for n in web_nodes}
        failed = Counter()
        started = time.monotonic()
        for i in range(80):
            node, chat = web_nodes[i % 2], crowd.chats[i % len(crowd.chats)]
            message_id = crowd.post(config.url(node), chat, f"cross {i}")
            if message_id is None:
                failed[node.name] += 1
            else:
                sent[node.name].setdefault(chat.pk, set()).add(message_id)
        post_seconds = time.monotonic() - started
        expected_by_chat: dict[int, set[int]] = {}
        for by_chat in sent.values():
            for chat_id, ids in by_chat.items():
                expected_by_chat.setdefault(chat_id, set()).update(ids)
        everything = set().union(*expected_by_chat.values())

        def all_delivered() -> bool:
            ws_done = all(set(message_ids(c)) >= expected_by_chat[chat.pk] for p in clients.values() for chat, c in p)
            return ws_done and all(set(r.ids) >= everything for r in feeds.values())

        wait_until(all_delivered, timeout=60, what="every message at every reader", interval=0.2)
        time.sleep(1)  # a duplicate would come right behind
        for reader in feeds.values():
            reader.stop.set()
        result: dict[str, Any] = {
            "messages_posted": 80,
            "post_seconds": round(post_seconds, 2),
            "accepted_per_web_node": {name: sum(len(ids) for ids in by.values()) for name, by in sent.items()},
            "failed_per_web_node": {name: failed[name] for name in sent},
            "received_per_centrifugo_node": {},
            "received_per_feed_node": {},
        }
        for name, pairs in clients.items():
            result["received_per_centrifugo_node"][name] = {
                "clients": len(pairs),
                **pairs_tally(pairs, expected_by_chat),
            }
        for name, reader in feeds.items():
            result["received_per_feed_node"][name] = tally(everything, reader.ids)

        # Shared state: one node answers for the other's clients and publications.
        chat = crowd.chats[0]
        channel = f"chat:{chat.pk}"
        presence = {
            node.name: len(api(cluster, node.name).presence(cent.PresenceRequest(channel=channel)).presence)
            for node in centrifugo_nodes
        }
        history = {
            node.name: len(
                api(cluster, node.name).history(cent.HistoryRequest(channel=channel, limit=1000)).publications
            )
            for node in centrifugo_nodes
        }
        key = f"cluster-{uuid.uuid4().hex}"
        for node in centrifugo_nodes:
            publish = cent.PublishRequest(channel=channel, data={"type": "probe", "key": key}, idempotency_key=key)
            api(cluster, node.name).publish(publish)
        on_chat = [client for c, client in itertools.chain(*clients.values()) if c.pk == chat.pk]
        wait_until(lambda: all(c.events("probe") for c in on_chat), timeout=10, what="the probe")
        time.sleep(1)
        probes = [len(c.events("probe")) for c in on_chat]
        info = api(cluster, "centrifugo1").info(cent.InfoRequest())
        result["shared"] = {
            "presence_of_one_chat_seen_by_each_node": presence,
            "history_of_one_chat_on_each_node": history,
            "idempotent_publish_through_both_nodes_received": probes,
            "nodes_known_to_centrifugo1": {n.name: n.num_clients for n in info.nodes},
        }
    RESULTS["cross_node"] = result
    for counts in [*result["received_per_centrifugo_node"].values(), *result["received_per_feed_node"].values()]:
        assert counts["lost"] == 0 and counts["duplicated"] == 0, result
    assert sum(result["failed_per_web_node"].values()) == 0, result
    assert set(presence.values()) == {4}, presence
    assert len(set(history.values())) == 1 and history["centrifugo1"] >= len(expected_by_chat[chat.pk])
    assert probes == [1] * len(on_chat)
    assert len(info.nodes) == 2


def test_centrifugo_node_killed_clients_recover_on_the_other(cluster, transactional_db):
    """Clients connected through nginx, spread over both nodes; centrifugo1 is killed and
    messages are posted while it is down: its clients reconnect through nginx to centrifugo2
    and recover what they missed from the shared history."""
    config = cluster.config
    crowd = Crowd(chats=3, readers=4)
    with contextlib.ExitStack() as stack:
        pairs = crowd.watch(stack, config.site_url)
        before = wait_until(
            # At least: a client of the test before may linger until its ping times out.
            lambda: clients_per_node(cluster, when=lambda c: sum(c.values()) >= len(pairs)),
            timeout=20,
            what="both nodes counting the clients",
        )
        expected: dict[int, set[int]] = {chat.pk: set() for chat in crowd.chats}
        for i in range(6):
            chat = crowd.chats[i % 3]
            expected[chat.pk].add(crowd.post(config.site_url, chat, f"before {i}"))
        cluster.kill("centrifugo1")
        killed_at = time.monotonic()
        accepted_while_down = 0
        for i in range(30):
            chat = crowd.chats[i % 3]
            message_id = crowd.post(config.site_url, chat, f"while down {i}")
            if message_id is not None:
                expected[chat.pk].add(message_id)
                accepted_while_down += 1
            time.sleep(0.05)

        def recovered() -> bool:
            return all(set(message_ids(c)) >= expected[chat.pk] for chat, c in pairs)

        wait_until(recovered, timeout=60, what="every client caught up on centrifugo2", interval=0.2)
        caught_up_seconds = time.monotonic() - killed_at
        time.sleep(1)
        after = wait_until(
            lambda: clients_per_node(cluster, when=lambda c: c.get("centrifugo2", 0) >= len(pairs)),
            timeout=20,
            what="centrifugo2 holding every client",
        )
        reconnected = [c for _, c in pairs if len(c.subscribed) > 1]
        counts = pairs_tally(pairs, expected)
        result = {
            "clients": len(pairs),
            "clients_per_node_before_kill": before,
            "clients_per_node_after_kill": after,
            "accepted_while_down": accepted_while_down,
            "clients_that_reconnected": len(reconnected),
            "reconnected_and_recovered_from_history": sum(
                1 for c in reconnected if c.subscribed[-1] == {"was_recovering": True, "recovered": True}
            ),
            "seconds_from_kill_to_all_caught_up": round(caught_up_seconds, 2),
            **counts,
        }
    cluster.start("centrifugo1")
    RESULTS["centrifugo_node_killed"] = result
    assert before.get("centrifugo1", 0) > 0, result
    assert result["lost"] == 0 and result["duplicated"] == 0, result
    assert 0 < result["clients_that_reconnected"] < len(pairs), result
    assert result["reconnected_and_recovered_from_history"] == result["clients_that_reconnected"], result
    assert accepted_while_down == 30


def test_web_node_killed_requests_keep_succeeding(cluster, transactional_db):
    """web1 is killed while requests go through nginx: every request after the kill succeeds
    on web2; each message accepted is readable, once."""
    config = cluster.config
    crowd = Crowd(chats=1, readers=1)
    chat = crowd.chats[0]
    statuses: Counter = Counter()
    accepted: list[int] = []
    for phase, count in (("before", 20), ("after", 40)):
        if phase == "after":
            cluster.kill("web1")
        for i in range(count):
            message_id = crowd.post(config.site_url, chat, f"{phase} {i}")
            statuses[f"{phase}_{'ok' if message_id else 'failed'}"] += 1
            if message_id:
                accepted.append(message_id)
    response = httpx.get(
        f"{config.url(config.layout.node('web2'))}/api/chats/{chat.pk}/messages/",
        params={"limit": 100},
        headers={"Authorization": f"Token {crowd.poster_token}"},
        timeout=10,
    )
    stored = [m["id"] for m in response.json()["results"]] if "results" in response.json() else []
    cluster.start("web1")
    RESULTS["web_node_killed"] = {
        "requests": dict(statuses),
        "retried_after_503": crowd.retries,
        "accepted": len(accepted),
        **tally(set(accepted), stored),
    }
    assert statuses["after_failed"] == 0 and statuses["before_failed"] == 0, statuses
    assert set(stored) == set(accepted) and len(stored) == len(accepted)


def test_redis_shard_restarted(cluster, transactional_db):
    """redis2 (one of Centrifugo's two shards) restarts under connected clients: messages
    posted afterwards all arrive, once."""
    config = cluster.config
    crowd = Crowd(chats=4, readers=2)
    with contextlib.ExitStack() as stack:
        pairs = crowd.watch(stack, config.site_url)
        cluster.restart("redis2")
        restarted_at = time.monotonic()
        expected: dict[int, set[int]] = {chat.pk: set() for chat in crowd.chats}
        failed = 0
        for i in range(40):
            chat = crowd.chats[i % 4]
            message_id = crowd.post(config.site_url, chat, f"after restart {i}")
            if message_id is None:
                failed += 1
            else:
                expected[chat.pk].add(message_id)
            time.sleep(0.05)
        wait_until(
            lambda: all(set(message_ids(c)) >= expected[chat.pk] for chat, c in pairs),
            timeout=60,
            what="every message after the shard restart",
            interval=0.2,
        )
        time.sleep(1)
        counts = pairs_tally(pairs, expected)
        result = {
            "clients": len(pairs),
            "failed_posts": failed,
            "seconds_from_restart_to_all_delivered": round(time.monotonic() - restarted_at - 1, 2),
            "clients_that_resubscribed": sum(1 for _, c in pairs if len(c.subscribed) > 1),
            **counts,
        }
    RESULTS["redis_shard_restarted"] = result
    assert failed == 0 and result["lost"] == 0 and result["duplicated"] == 0, result


def test_worker_killed_the_other_keeps_its_queue_moving(cluster, transactional_db):
    """worker1 (default, reports) is killed: worker2 keeps sending the email of every member
    added meanwhile; a report queued while worker1 is down waits for it and runs once it is
    back."""
    from messenger.celery import app

    config = cluster.config
    owner, admin = make_user("owner"), make_user("admin")
    chat = chat_create(created_by=owner, title="mail")
    owner_token, admin_token = (token_create(user=user) for user in (owner, admin))
    # Through the cluster's API, so any task goes to the cluster's broker (the owner adding
    # tells no one); then the admin adds, and the owner is told: one email per addition.
    response = httpx.post(
        f"{config.site_url}/api/chats/{chat.pk}/members/",
        json={"user_id": admin.pk},
        headers={"Authorization": f"Token {owner_token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    # An admin only after CHAT_ADMIN_MIN_TENURE_SECONDS in the chat: as if a day went by.
    Membership.objects.filter(chat=chat, user=admin).update(joined_at=timezone.now() - timedelta(days=2))
    response = httpx.patch(
        f"{config.site_url}/api/chats/{chat.pk}/members/{admin.pk}/",
        json={"role": "admin"},
        headers={"Authorization": f"Token {owner_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    mail_dir = config.state_dir / "mail"
    report = Path(config.django_environment(pooled=True, application_name="x")["USER_REPORT_PATH"])
    mails_before = len(list(mail_dir.glob("*.eml")))
    report_lines_before = len(report.read_text().splitlines()) if report.exists() else 0
    cluster.kill("worker1")
    newcomers = [make_user("new") for _ in range(5)]
    added = 0
    for user in newcomers:
        response = httpx.post(
            f"{config.site_url}/api/chats/{chat.pk}/members/",
            json={"user_id": user.pk},
            headers={"Authorization": f"Token {admin_token}"},
            timeout=10,
        )
        added += response.status_code == 201
    with app.connection_for_write(config.redis_url("redis1", db=1)) as conn:
        app.send_task("reports.user_report_start", queue="reports", connection=conn)
    wait_until(
        lambda: len(list(mail_dir.glob("*.eml"))) - mails_before >= added,
        timeout=60,
        what="worker2 sending every email",
        interval=0.2,
    )
    time.sleep(2)
    report_lines_while_down = (len(report.read_text().splitlines()) if report.exists() else 0) - report_lines_before
    cluster.start("worker1")
    wait_until(
        lambda: report.exists() and len(report.read_text().splitlines()) > report_lines_before,
        timeout=60,
        what="the report after worker1 is back",
        interval=0.2,
    )
    mails = len(list(mail_dir.glob("*.eml"))) - mails_before
    RESULTS["worker_killed"] = {
        "members_added_while_worker1_down": added,
        "emails_sent_by_worker2": mails,
        "report_lines_while_worker1_down": report_lines_while_down,
        "report_ran_after_worker1_back": True,
    }
    assert added == 5 and mails == added
    assert report_lines_while_down == 0
