"""Pulls between two real nodes: each source type byte for byte, sealed, kept, completed."""

from __future__ import annotations

import os

from dataplane_e2e.kit import agree, both, pull_all, settle, sha, started, wait_state


async def test_a_file_is_pulled_byte_for_byte_sealed_and_completed(pair):
    data = os.urandom(3 * 1024 * 1024 + 17)
    (pair.root / "weather.bin").write_bytes(data)
    async with both(pair):
        agreement = await agree(pair, "weather", {"type": "file", "path": "weather.bin"})
        tp = await started(pair, agreement)
        body, seal, info = await pull_all(pair, tp["id"])
        assert body == data
        assert seal["claims"]["sha256"] == sha(data) and seal["claims"]["size"] == len(data)
        verdict = await settle(pair, tp["id"], body, seal)
        assert verdict["verified"] is True and verdict["issuer"] == pair.provider.participant_id
        done = await pair.cm.call("POST", f"/v1/transfers/{tp['id']}/complete", None, 200)
        await wait_state(pair.pm, done["providerPid"], "COMPLETED")
        flow = await pair.cm.call("GET", f"/v1/transfers/{tp['id']}/flow", None, 200)
        assert flow["seal"] == seal and flow["sha256"] == sha(data)
