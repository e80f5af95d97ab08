"""Ports picked for listeners started later: free, distinct, and outside the range outgoing connections use."""

import socket

from connector import free_port as ports


def test_picked_ports_are_distinct_bindable_and_below_the_ephemeral_range():
    picked = [ports.free_port() for _ in range(50)]
    assert len(set(picked)) == len(picked)
    start = ports._ephemeral_start()
    assert all(ports._LOWEST <= p < start for p in picked)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", picked[0]))


def test_a_port_something_listens_on_is_never_picked(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        real, tried = ports.random.randrange, []

        def randrange(low: int, high: int) -> int:  # the busy port twice, then as the picker would choose
            tried.append(taken if len(tried) < 2 else real(low, high))
            return tried[-1]

        monkeypatch.setattr(ports.random, "randrange", randrange)
        monkeypatch.setattr(ports, "_handed_out", set())
        assert ports.free_port() != taken
        assert tried[:2] == [taken, taken] and len(tried) >= 3  # tried, refused, and another one picked
