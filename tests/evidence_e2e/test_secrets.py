"""Bundles go to auditors: no pull token of the exchange is in any of them, yet the messages that carried one are
logged (and disclosed) with its digest; a message logged with a token in full is disclosed by its hash alone."""

from __future__ import annotations

import json
from pathlib import Path

from evidence_e2e.kit import open_store
from nodekit import Management, running_node

from connector.evidence.audit import verify_bundle
from connector.evidence.secrets import withheld


def _tokens(store: Path) -> set[str]:
    """Every bearer token a node holds in its transfers' data addresses (what the management API shows as ***)."""
    conn = open_store(store)
    try:
        rows = conn.execute("SELECT data_address FROM transfers WHERE data_address IS NOT NULL").fetchall()
    finally:
        conn.close()
    found = set()
    for (text,) in rows:
        for prop in json.loads(text).get("endpointProperties", []):
            if prop.get("name") == "authorization":
                found.add(prop["value"])
    return found


def test_no_bundle_holds_a_pull_token_but_the_messages_name_its_digest(exchange):
    tokens = _tokens(exchange.store_files["consumer"]) | _tokens(exchange.store_files["provider"])
    assert tokens, "the exchange's pull transfer must have left its data address in the stores"
    for name in ("consumer", "provider"):
        text = exchange.bundles[name].read_text()
        for token in tokens:
            assert token not in text, f"the {name} bundle holds a pull token"
            assert token.rsplit(".", 1)[-1] not in text, f"the {name} bundle holds a pull token's signature"
        subjects = json.dumps(json.loads(text)["subjects"])
        assert any(withheld(token) in subjects for token in tokens), f"the {name} bundle names no token's digest"


async def test_a_message_logged_with_a_token_before_is_disclosed_by_its_hash_alone(
    exchange, trust_lists, now, tmp_path
):
    config = exchange.copy_node("consumer", tmp_path)
    token = "legacy.token-logged-in-full.signature"
    message = {
        "@type": "TransferStartMessage",
        "dataAddress": {
            "@type": "DataAddress",
            "endpoint": "https://provider.example/data/1",
            "endpointProperties": [{"@type": "EndpointProperty", "name": "authorization", "value": token}],
        },
    }
    async with running_node(config) as node:
        assert node.evidence is not None
        # As a node that did not withhold tokens wrote it: straight into the journal.
        record = await node.store.run(
            lambda db: node.evidence.journal.append(
                db,
                "dsp.received",
                process_id=exchange.transfer,
                peer=exchange.provider.participant_id,
                subject=message,
                data={"type": "TransferStartMessage"},
            )
        )
        m = Management(exchange.consumer)
        await m.call("POST", "/v1/evidence/checkpoints", {}, None)
        bundle = await m.call("GET", f"/v1/evidence/agreements/{exchange.agreement}/bundle", None, 200)
    text = json.dumps(bundle)
    assert token not in text
    assert record.subject_sha256 not in bundle["subjects"]
    assert record.subject_sha256 in {r["subject_sha256"] for r in bundle["log"]["proof"]["records"]}
    report = verify_bundle(bundle, trust_lists, now)
    assert report.ok, [(c.name, c.code, c.statement) for c in report.failures]
