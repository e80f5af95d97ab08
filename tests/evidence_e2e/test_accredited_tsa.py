"""A time-stamp authority withdrawn from its federation's trusted list after it stamped a checkpoint: the evidence
made before still verifies offline, evidence time-stamped after the withdrawal does not."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from nodekit import Management, acli, running_node
from trust_e2e.kit import NodeSpec, credentialed, dcp_config, make_federation

pytestmark = pytest.mark.asyncio


async def _agree_and_export(cm: Management, pm: Management, provider, asset: str, out: Path) -> Path:
    await pm.offer(asset)
    neg = await cm.negotiate(provider, f"{asset}-offer", asset)
    assert neg["state"] == "FINALIZED", neg
    stamped = await cm.call("POST", "/v1/evidence/checkpoints", None)
    assert len(stamped["timestamps"]) == 1, stamped  # the TSA still answers; what counts is its status
    bundle = await cm.call("GET", f"/v1/evidence/agreements/{neg['agreementId']}/bundle", None, 200)
    out.write_text(json.dumps(bundle))
    return out


async def test_evidence_stamped_before_the_tsa_was_withdrawn_still_verifies_and_after_it_does_not(tmp_path):
    federation = make_federation(tmp_path, "Stamped Federation")
    provider = credentialed(federation, tmp_path, "provider")
    consumer = credentialed(federation, tmp_path, "consumer", country="JP")
    authority = str(federation.authority.dir)
    listed = tmp_path / "auditor" / "stamped.xml"
    ran = await acli("pki", "trust-list", "--authority", authority, "--out", str(listed))
    assert ran.returncode == 0 and "ETSI TS 119 612" in ran.stdout, ran.stderr
    tsa = f'\n[evidence]\ntsa_url = "https://localhost:{federation.port}/tsa"\n'
    configs = []
    for p in (provider, consumer):
        path = dcp_config(NodeSpec(p, [federation], trust_list_files={federation.name: listed}), tmp_path)
        path.write_text(path.read_text() + tsa)
        configs.append(path)
    await federation.start()
    try:
        async with running_node(configs[0]), running_node(configs[1]):
            pm, cm = Management(provider), Management(consumer)
            before = await _agree_and_export(cm, pm, provider, "tides", tmp_path / "before.json")
            await asyncio.sleep(1.1)  # the withdrawal takes effect at a whole second after the time-stamp
            ran = await acli("pki", "service", "--authority", authority, "--service", "tsa", "--status", "withdrawn")
            assert ran.returncode == 0 and "withdrawn" in ran.stdout, ran.stderr
            withdrawn_list = tmp_path / "auditor" / "stamped-withdrawn.xml"
            ran = await acli("pki", "trust-list", "--authority", authority, "--out", str(withdrawn_list))
            assert ran.returncode == 0, ran.stderr
            await asyncio.sleep(1.1)
            after = await _agree_and_export(cm, pm, provider, "reefs", tmp_path / "after.json")
    finally:
        await federation.stop()

    # The auditor holds the list as published after the withdrawal.
    ran = await acli("evidence", "verify", str(before), "--trust-list", str(withdrawn_list))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "time-stamp authority" in ran.stdout
    ran = await acli("evidence", "verify", str(after), "--trust-list", str(withdrawn_list), "--json")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    report = json.loads(ran.stdout)
    failed = [c for c in report["checks"] if c["status"] == "failed"]
    assert any(c["code"] == "timestamp.tsa_not_accredited" for c in failed), failed
    assert any("withdrawn" in c["statement"] for c in failed), failed
    # Under the list as it stood before the withdrawal, the later evidence verifies: what decides is the status
    # the list the auditor trusts gives the TSA at the time of the stamp.
    ran = await acli("evidence", "verify", str(after), "--trust-list", str(listed))
    assert ran.returncode == 0, ran.stdout + ran.stderr
