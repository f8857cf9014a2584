"""messenger.broker: a worker that lost its broker connection with a message in hand gives
the message back as it closes the connection, the way Celery 5.7 closes it (collect, then
close), instead of failing on kombu's forgotten address."""

import uuid

import pytest
from django.conf import settings
from kombu import Connection

from testing.redis_keys import keys_deleted


@pytest.fixture
def prefix():
    prefix = f"test-broker-{uuid.uuid4().hex[:8]}-"
    yield prefix
    keys_deleted(f"{prefix}*")


def _connection(prefix: str, transport: str) -> Connection:
    return Connection(settings.CELERY_BROKER_URL, transport=transport, transport_options={"global_keyprefix": prefix})


def test_the_workers_and_the_senders_connections_use_the_project_transport():
    from messenger.broker import Transport
    from messenger.celery import app

    for connection_for in (app.connection_for_read, app.connection_for_write):
        with connection_for() as connection:
            assert isinstance(connection.transport, Transport)


def test_a_message_in_hand_when_the_connection_is_collected_then_closed_goes_back_to_its_queue(prefix):
    """With kombu's own transport (`transport="redis"`) this fails as the CI's worker did:
    AttributeError: 'NoneType' object has no attribute 'hostname'."""
    transport = settings.CELERY_BROKER_TRANSPORT
    queue = f"{prefix}emails"
    with _connection(prefix, transport) as sender:
        sender.SimpleQueue(queue).put({"task": "an email"})
    worker = _connection(prefix, transport)
    in_hand = worker.SimpleQueue(queue).get(timeout=5)  # reserved, not acknowledged
    assert in_hand.payload == {"task": "an email"}
    # Celery's consumer, on a lost connection, collects it and then closes it. When closing
    # the channel within collect() times out, collect() still forgets the transport's
    # address and leaves the channel open, with the message in hand: this state.
    worker._do_close_transport()
    worker.close()
    with _connection(prefix, transport) as another:
        again = another.SimpleQueue(queue).get(timeout=5)
        assert again.payload == {"task": "an email"}
        again.ack()
