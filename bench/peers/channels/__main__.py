"""Runs the Channels peer in the foreground, from the repository's root:

    .venv/bin/python -m bench.peers.channels --port 8900 [--workers 2]

(bench/peers/serve.py.) The run's groups and inboxes are deleted from Redis when it stops: a
group left by an earlier run (a server killed before its sockets left) would make every
group_send write to dead sockets' inboxes.
"""

from bench.peers.serve import peer_main


def _forget(prefix: str) -> None:
    """Deletes this run's groups and inboxes from Redis."""
    from testing.redis_keys import keys_deleted

    keys_deleted(f"{prefix}*")


if __name__ == "__main__":
    peer_main(
        name="channels",
        app="bench.peers.channels.asgi:application",
        settings_module="bench.peers.channels.settings",
        prefix_env="CHANNELS_PEER_PREFIX",
        forget=_forget,
    )
