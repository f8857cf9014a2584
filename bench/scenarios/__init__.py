"""The benchmarks, one module each.

`make bench` (`python -m bench`, bench/suite.py) runs the seven numbered scenarios of issue 9 on
one stack: each module has NUMBER, NAME and `run(suite) -> dict`. The other benchmarks run on
their own through the same entry point (`python -m bench <name>`, bench/__main__.py).
"""

from bench.scenarios import big_room, connections, latency, overload, peers, throughput, transports

SUITE = {m.NUMBER: m for m in (throughput, latency, overload, big_room, connections, transports, peers)}
