"""The Celery broker's transport: kombu's Redis transport, with one fault of kombu 5.7 and
Celery 5.7 together worked around.

When a worker loses its broker connection with a message in hand, Celery first lets kombu
`collect()` the connection, then closes it. Should closing the channel within `collect()`
time out, `collect()` still forgets the connection's address (the transport's `client`
becomes None) and leaves the channel open. Closing it then gives the unacknowledged messages
back to their queues, and for that kombu opens a new Redis pool from that address: `AttributeError:
'NoneType' object has no attribute 'hostname'`. The worker's main process logged
"Unrecoverable error" and then hung, alive and consuming nothing, so nothing started it
again (`tests/system/test_faults.py::test_redis_restarted` caught it, and the email tests
after it waited in vain).

Here each channel keeps the connection parameters it was opened with. The restore goes
through: at once if Redis is back, or, if it is still down, the messages wait in the unacked
table for their visibility timeout, as a killed worker's do."""

from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Set first: kombu's __init__ already connects (its first PING).
        self._opened_with: dict[bool, dict[str, Any]] = {}  # by `asynchronous`
        super().__init__(*args, **kwargs)

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None and asynchronous in self._opened_with:
            return dict(self._opened_with[asynchronous])
        params = super()._connparams(asynchronous=asynchronous)
        self._opened_with[asynchronous] = dict(params)
        return params


class Transport(redis.Transport):
    Channel = Channel
