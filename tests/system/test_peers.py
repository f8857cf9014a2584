"""The benchmark's peers (bench/peers/, `make bench` scenario 7), started as the benchmark
starts them: a bad token is refused, and two members' sockets hear each message exactly
once, in the product's envelope; a repeated client_id answers the first message."""

import asyncio

import pytest

from bench.peers.clients import PEERS
from bench.peers.population import population_make
from bench.peers.smoke import smoke_run
from core.database import database_url


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_peer_delivers_each_message_once(peer: str, transactional_db: None) -> None:
    population = population_make(readers=1, chat_size=2)
    server_class, client = PEERS[peer]
    server = server_class(workers=1).start(DATABASE_URL=database_url(sslmode="disable"))
    try:
        tokens = [population.poster_token, population.reader_tokens[0]]
        failures = asyncio.run(smoke_run(server, client, tokens=tokens, chat_id=population.chats[0][0]))
    finally:
        server.stop()
    assert failures == []
