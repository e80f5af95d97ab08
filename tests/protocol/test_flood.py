"""Under a flood of oversized, undeclared and slow bodies from certificate holders, the node stays small and keeps
answering an honest peer's catalogue requests and the operator's health probes (the benchmark, shortened)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # the benchmark runs the node as its own process


async def test_a_flood_of_hostile_bodies_neither_grows_the_node_nor_starves_honest_peers():
    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    try:
        import bench_flood
    finally:
        sys.path.pop(0)
    result = await bench_flood.run(seconds=8.0, attackers=15)
    assert result["node_alive"], result
    assert result["rss_peak_mib"] < 150, result
    during = result["during_flood"]
    assert during["failed"] == 0 and during["catalogue_answered"] > 0 and during["health_answered"] > 0, result
