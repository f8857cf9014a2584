"""`python -m bench.peers.channels.smoke`: `python -m bench.peers.smoke --peer channels`."""

import sys

from bench.peers.smoke import main

if __name__ == "__main__":
    sys.argv[1:1] = ["--peer", "channels"]
    main()
