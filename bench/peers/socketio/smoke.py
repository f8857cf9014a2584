"""`python -m bench.peers.socketio.smoke`: `python -m bench.peers.smoke --peer socketio`."""

import sys

from bench.peers.smoke import main

if __name__ == "__main__":
    sys.argv[1:1] = ["--peer", "socketio"]
    main()
