"""Runs the python-socketio peer in the foreground, from the repository's root:

    .venv/bin/python -m bench.peers.socketio --port 8900 [--workers 2]

(bench/peers/serve.py.) Its AsyncRedisManager publishes on a Redis channel of this run's own;
a pub/sub channel leaves nothing behind in Redis.
"""

from bench.peers.serve import peer_main

if __name__ == "__main__":
    peer_main(
        name="socketio",
        app="bench.peers.socketio.asgi:application",
        settings_module="bench.peers.socketio.settings",
        prefix_env="SOCKETIO_PEER_PREFIX",
    )
