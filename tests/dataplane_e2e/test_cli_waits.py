"""A command's --timeout longer than one wait of the management API (which answers after MAX_WAIT seconds at
the most): the command asks again until its own time is up, and says how long it waited."""

from __future__ import annotations

import time

import pytest
from dataplane_e2e.kit import agree
from nodekit import acli, dsp_settings, running_node

from connector.management import process_routes


@pytest.fixture
def short_api_waits(monkeypatch):
    """The API's longest wait, 300 s, made 1 s: a wait of a few seconds is already longer than one request's."""
    monkeypatch.setattr(process_routes, "MAX_WAIT", 1.0)


async def _timed(*argv: str) -> tuple[float, object]:
    began = time.monotonic()
    ran = await acli(*argv)
    return time.monotonic() - began, ran


async def test_a_transfer_that_does_not_start_is_waited_for_the_whole_timeout(pair, short_api_waits):
    (pair.root / "rain.csv").write_text("a,b\n1,2\n")
    async with running_node(pair.ccfg):
        async with running_node(pair.pcfg):
            agreement = await agree(pair, "rain", {"type": "file", "path": "rain.csv"})
        # The provider is gone: the transfer stays REQUESTED.
        out = str(pair.tmp / "rain.csv")
        took, ran = await _timed(
            "transfer", agreement, "--out", out, "--timeout", "3", "--quiet", "--config", str(pair.ccfg)
        )
        assert ran.returncode == 3 and "still REQUESTED after 3 s" in ran.stderr, ran
        assert took >= 3, took


async def test_a_negotiation_is_waited_for_the_whole_timeout(pair, short_api_waits):
    pair.pcfg.write_text(pair.pcfg.read_text() + dsp_settings(message_spacing=30))  # the provider answers late
    peer = f"https://localhost:{pair.provider.protocol_port}/dsp/2025-1"
    async with running_node(pair.pcfg), running_node(pair.ccfg):
        await pair.pm.offer("rain")
        took, ran = await _timed("negotiate", peer, "rain-offer", "--timeout", "3", "--config", str(pair.ccfg))
        assert ran.returncode == 3 and "still REQUESTED after 3 s" in ran.stderr, ran
        assert took >= 3, took
