"""Setup shared by the peers' smoke checks and latency runs: a database of their own (created,
migrated and dropped, like the other benchmarks'), users in chats made with the ORM, and the
peer started on them. Imported after `bench.peers.django_setup()`."""

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection, transaction

from accounts.models import User
from accounts.services import tokens_create
from bench.peers.clients import PEERS, ChannelsSocket, SocketIOSocket
from bench.peers.server import PeerServer
from chats.models import Chat, Membership
from core.database import database_url


@contextlib.contextmanager
def bench_database(name: str = "bench_peer_channels") -> Iterator[str]:
    """Creates and migrates database `name`, yields its DATABASE_URL, drops it at the end."""
    connection.settings_dict["TEST"]["NAME"] = name
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False, serialize=False)
    try:
        yield database_url(sslmode="disable")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


@contextlib.contextmanager
def peer_running(
    peer: str, *, purpose: str, workers: int, readers: int, chat_size: int
) -> Iterator[tuple[PeerServer, type[ChannelsSocket] | type[SocketIOSocket], "Population"]]:
    """Peer `peer` (bench.peers.clients.PEERS) with `workers` processes, started on database
    `bench_peer_<peer>_<purpose>` holding `population_make(readers, chat_size)`; yields the
    server, its client class and the population, then stops the peer and drops the database."""
    server_class, client = PEERS[peer]
    with bench_database(f"bench_peer_{peer}_{purpose}") as url:
        population = population_make(readers=readers, chat_size=chat_size)
        server = server_class(workers=workers).start(DATABASE_URL=url)
        try:
            yield server, client, population
        finally:
            server.stop()


@dataclass
class Population:
    poster_token: str  # a member of every chat, not connected: it only posts
    reader_tokens: list[str]  # one per WebSocket client
    chats: list[tuple[int, list[int]]]  # chat id, the reader indexes in it


def population_make(*, readers: int, chat_size: int) -> Population:
    """`readers` users with tokens in chats of `chat_size` readers each, plus one poster in all."""
    tag = uuid.uuid4().hex[:6]
    poster = User.objects.create_user(username=f"peer-poster-{tag}", email=f"poster-{tag}@example.com")
    users = User.objects.bulk_create(
        [User(username=f"peer-{tag}-{i}", email=f"peer-{tag}-{i}@example.com") for i in range(readers)]
    )
    keys = tokens_create(users=[poster, *users])
    tokens = [keys[user.pk] for user in [poster, *users]]
    chats = []
    for start in range(0, readers, chat_size):
        indexes = list(range(start, min(start + chat_size, readers)))
        # One transaction: the one-owner trigger (chats 0002) checks a new chat at commit.
        with transaction.atomic():
            chat = Chat.objects.create(title=f"peer {start}", created_by=poster)
            Membership.objects.bulk_create(
                [Membership(chat=chat, user=poster, role=Membership.Role.OWNER)]
                + [Membership(chat=chat, user=users[i]) for i in indexes]
            )
        chats.append((chat.pk, indexes))
    return Population(poster_token=tokens[0], reader_tokens=tokens[1:], chats=chats)
