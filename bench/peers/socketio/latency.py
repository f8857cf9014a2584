"""`python -m bench.peers.socketio.latency`: `python -m bench.peers.latency --peer socketio`."""

import sys

from bench.peers.latency import main

if __name__ == "__main__":
    sys.argv[1:1] = ["--peer", "socketio"]
    main()
