"""`python -m bench.peers.channels.latency`: `python -m bench.peers.latency --peer channels`."""

import sys

from bench.peers.latency import main

if __name__ == "__main__":
    sys.argv[1:1] = ["--peer", "channels"]
    main()
