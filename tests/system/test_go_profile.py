"""bench.go_profile: Centrifugo's CPU profile (Go's profiler), read as CPU ms per message the
way `python -m bench api-throughput --centrifugo --profile` reads it."""

import time

import cent

from bench.go_profile import pprof_start, pprof_top


def test_a_node_busy_publishing_shows_where_its_cpu_went(centrifugo_factory, tmp_path):
    node = centrifugo_factory(debug=True)
    recording = pprof_start(node.internal_url, seconds=2, out=tmp_path / "cpu.pb")
    client, published = node.api(), 0
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        client.publish(cent.PublishRequest(channel="chat:1", data={"n": published}))
        published += 1

    # All of it: under load the thirty heaviest can be Go's HTTP server and syscalls alone.
    found = pprof_top([recording], per=published, top=1000)

    assert found["cpu_ms_per_message"][0] > 0
    functions = [function for function, _ in found["inclusive"]]
    assert any("centrifug" in function for function in functions), functions


def test_a_node_as_sites_run_it_has_no_profiler(centrifugo, tmp_path):
    recording = pprof_start(centrifugo.internal_url, seconds=1, out=tmp_path / "cpu.pb")

    assert pprof_top([recording], per=1) == {}
    assert recording.errors and "404" in recording.errors[0]
