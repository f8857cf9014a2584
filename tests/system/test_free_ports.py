"""The ports tests start their servers on (testing.processes.free_port)."""

from testing import processes


def test_test_workers_draw_ports_from_slices_of_their_own(monkeypatch):
    """Four pytest-xdist workers: four disjoint slices, each inside the range."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
    slices = []
    for index in range(4):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{index}")
        slices.append(set(processes._own_ports()))
    assert all(slices)
    assert sum(map(len, slices)) == len(set().union(*slices))
    assert min(map(min, slices)) >= 10_000 and max(map(max, slices)) < 32_000


def test_a_port_is_handed_out_once_though_nothing_bound_it_yet():
    """A SiteServer draws its ports before any of its servers binds one."""
    ports = [processes.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert set(ports) <= set(processes._own_ports())
