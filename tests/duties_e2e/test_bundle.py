"""Receipts in evidence bundles: each side's bundle of an agreement with duties carries the consumer's signed
receipts, and `connector evidence verify` proves them offline (or names what is missing or altered)."""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from dataplane_e2e.kit import Pair, data_section
from duties_e2e.kit import agreed, delete_within, duty_policy, offer_file, pulled, receipts_at
from nodekit import acli, running_node, wait_for
from trust_e2e.kit import NodeSpec, credentialed, dcp_config, make_federation

from connector.evidence.audit import load_trust_list, verify_bundle


def _configure(federation, participant, root: Path, name: str) -> Path:
    path = dcp_config(NodeSpec(participant, [federation]), root)
    (root / f"{name}-data").mkdir()
    evidence = f'\n[evidence]\ntsa_url = "https://localhost:{federation.port}/tsa"\n'
    path.write_text(path.read_text() + data_section(root / f"{name}-data", root / f"{name}-inbox") + evidence)
    return path


async def test_both_sides_bundles_prove_the_duties_fulfilled_and_verify_offline(tmp_path):
    federation = make_federation(tmp_path, "Duty Federation")
    provider = credentialed(federation, tmp_path, "provider")
    consumer = credentialed(federation, tmp_path, "consumer")
    pcfg = _configure(federation, provider, tmp_path, "provider")
    ccfg = _configure(federation, consumer, tmp_path, "consumer")
    pair = Pair(provider, consumer, pcfg, ccfg, tmp_path / "provider-data", tmp_path / "consumer-inbox", tmp_path)
    trust_list = tmp_path / "auditor" / "trust-list.jws"
    ran = await acli("pki", "trust-list", "--authority", str(federation.authority.dir), "--out", str(trust_list))
    assert ran.returncode == 0, ran.stderr
    out = tmp_path / "consumer-data" / "air.bin"
    await federation.start()
    try:
        async with running_node(pcfg), running_node(ccfg):
            await offer_file(pair, "air", os.urandom(2000), duty_policy(delete_within("PT5S"), {"action": "inform"}))
            agreement = await agreed(pair, "air")
            await pulled(pair, agreement, out)
            await wait_for(lambda: not out.exists(), 15, 0.1)
            await receipts_at(pair.pm, agreement, 2)
            bundles = {}
            for side, cfg in (("consumer", ccfg), ("provider", pcfg)):
                bundles[side] = tmp_path / f"{side}.bundle.json"
                ran = await acli("evidence", "export", agreement, "--out", str(bundles[side]), "--config", str(cfg))
                assert ran.returncode == 0, ran.stderr
    finally:
        await federation.stop()

    for side, path in bundles.items():
        ran = await acli("evidence", "verify", str(path), "--trust-list", str(trust_list))
        assert ran.returncode == 0, side + ran.stdout + ran.stderr
        assert "duty: " in ran.stdout and "informed" in ran.stdout and "deleted the data of transfer" in ran.stdout
        assert "by its deadline" in ran.stdout

    now = datetime.now(UTC)
    lists = [load_trust_list(trust_list.read_text(), now)]
    document = json.loads(bundles["provider"].read_text())
    report = verify_bundle(document, lists, now)
    assert report.complete and len(report.duties) == 2
    assert {c.name.split(".")[1] for c in report.checks if c.name.startswith("receipt.")} == {"inform", "delete"}

    # A receipt the log holds, left out of the bundle: its evidence is absent (the subject cannot be dropped
    # silently either: the checks name it).
    receipts = [sha for sha, body in document["subjects"].items() if isinstance(body, dict) and "receipt" in body]
    assert len(receipts) == 2
    stripped = copy.deepcopy(document)
    del stripped["subjects"][receipts[0]]
    report = verify_bundle(stripped, lists, now)
    assert report.ok and not report.complete
    assert any(c.status == "absent" and c.name.startswith("receipt.") for c in report.checks)

    # A receipt changed in the bundle no longer matches what the log recorded.
    altered = copy.deepcopy(document)
    token = altered["subjects"][receipts[0]]["receipt"]
    altered["subjects"][receipts[0]]["receipt"] = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    report = verify_bundle(altered, lists, now)
    assert not report.ok and "bundle.subject_altered" in [c.code for c in report.failures]
