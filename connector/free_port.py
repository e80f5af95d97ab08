"""Picking a free loopback port for a listener that is started later (the demo's workspace, tests, benchmarks).

Asking the kernel for port 0 and closing the socket hands back an *ephemeral* port, the kind every outgoing
connection also takes its local port from: between the pick and the listener's bind, a client socket of any
process may take it, and the listener fails with "address in use". Ports are therefore picked below the
ephemeral range (where only listeners bind), tried with a bind, and never handed out twice by one process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOWEST = 10_000
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768  # the Linux default; other systems start at 49152, above it
    return max(low, _LOWEST + 1_000)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at `host` now, outside the ephemeral range when that leaves room."""
    high = _ephemeral_start()
    for _ in range(500):
        port = random.randrange(_LOWEST, high)
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as probe:  # a crowded machine: let the kernel choose
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    _handed_out.add(port)
    return int(port)
