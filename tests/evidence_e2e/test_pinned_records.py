"""What the node records for given inputs is pinned byte for byte: a faster append must write the same records
(same fields, same canonical bytes, same hashes) and keep the same subjects, so that bundles exported before and
after verify alike."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from evidence_e2e.kit import Clock, fresh_db

from connector.config import EvidenceSection
from connector.evidence.chain import Record, verify_chain
from connector.evidence.edge import tables
from connector.evidence.edge.service import NodeEvidence

PEER = "did:web:localhost%3A8443:consumer"
AGREEMENT = {
    "@id": "urn:uuid:agreement-1",
    "@type": "Agreement",
    "target": "weather",
    "assignee": PEER,
    "assigner": "did:web:localhost%3A9443:provider",
    "timestamp": "2030-01-01T00:00:00Z",
    "permission": [{"action": "use", "constraint": [{"leftOperand": "count", "operator": "lteq", "rightOperand": 10}]}],
}
MESSAGE = {
    "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
    "@type": "ContractAgreementMessage",
    "providerPid": "urn:uuid:p",
    "consumerPid": "urn:uuid:c",
    "agreement": AGREEMENT,
    "https://w3id.org/connector/ext/agreementSignature": "eyJhbGciOiJFUzI1NiJ9..c2ln",
}

# The head after `_append_known_records`, and a digest of every stored record line and subject body.
PINNED_HEAD = (14, "87cfde7a8d51f4845d7ea3ef4f4b78fd32cd3f50744cf212eb96596c7125c452")
PINNED_CONTENT = "33060fa9d12a81e169504440cf80a7ff58704072ea637d6b6ef931fd2dd682bf"


def _append_known_records(evidence: NodeEvidence, db: Any) -> None:
    pid = "urn:uuid:negotiation-1"
    evidence.append(
        db, "dsp.received", process_id=pid, peer=PEER, subject=dict(MESSAGE), data={"type": "ContractRequestMessage"}
    )
    evidence.append(
        db,
        "policy.decided",
        process_id=pid,
        peer=PEER,
        subject={"decision": "permit", "score": 0.5, "rules": [{"ok": True, "n": 2**60}]},
        data={"decision": "permit", "ratio": 1.25, "big": 2**60, "tuple": (1, "two")},
    )
    evidence.append(
        db,
        "state.changed",
        process_id=pid,
        peer=PEER,
        data={"kind": "negotiation", "from": "REQUESTED", "to": "AGREED", "cause": "sent", "reason": None},
    )
    evidence.append(
        db,
        "agreement.signed",
        process_id=pid,
        peer=PEER,
        subject=dict(AGREEMENT),
        data={"agreement": AGREEMENT["@id"], "role": "provider", "signature_sha256": "a" * 64, "credentials": []},
    )
    evidence.append(
        db,
        "dsp.sent",
        process_id=pid,
        peer=PEER,
        subject=MESSAGE,
        data={"type": "ContractAgreementMessage", "url": "https://localhost:8443/cb"},
    )
    evidence.append(
        db,
        "dsp.sent",
        process_id="urn:uuid:other",
        peer=PEER,
        subject=MESSAGE,
        data={"type": "ContractAgreementMessage", "url": "https://localhost:8443/cb"},
    )
    evidence.append(
        db,
        "dsp.received",
        process_id=pid,
        peer="TCK_PARTICIPANT",
        subject={"value": float("nan")},
        data={"reason": "x" * 5000, "größe": "ü", 7: "seven"},
    )
    evidence.append(
        db,
        "credential.verified",
        peer=PEER,
        data={"nested": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, "list": list(range(150))},
    )
    evidence.append(db, "peer.refused", peer=None, data={"blob": ["y" * 400] * 60})
    evidence.append(
        db,
        "seal.sent",
        process_id=pid,
        peer=PEER,
        subject="a plain string subject",
        data={"odd": {1, 2} and "set-as-text", "when": datetime(2030, 1, 1, tzinfo=UTC)},
    )
    evidence.append(db, "checkpoint", data={"checkpoint": 1, "count": 10, "head": "b" * 64})
    evidence.append(
        db,
        "state.changed",
        process_id=pid,
        peer=PEER,
        data={
            "kind": "negotiation",
            "from": "VERIFIED",
            "to": "FINALIZED",
            "cause": "received",
            "reason": '\u2028 line separator, \x01 control, "quoted"',
        },
    )
    evidence.append(
        db, "dsp.received", process_id=pid, peer=PEER, subject={"surrogate": "\ud800"}, data={"type": "odd"}
    )
    evidence.append(db, "data.sealed", process_id=pid[:5] + "é" * 2000, peer=PEER * 40, data=None)


def _recorded() -> tuple[tuple[int, str], str, list[Record]]:
    evidence = NodeEvidence(
        identity=None,  # type: ignore[arg-type]
        settings=EvidenceSection(),
        store=None,  # type: ignore[arg-type]
        clock=Clock(timedelta(microseconds=1_001)),
    )
    db = fresh_db()
    evidence.journal.load(db)
    db.execute("BEGIN IMMEDIATE")
    _append_known_records(evidence, db)
    db.execute("COMMIT")
    records = [Record.from_json(row) for row in tables.record_rows(db, 1)]
    digest = hashlib.sha256()
    for record in records:
        digest.update(record.to_line() + b"\n")
    for sha256, body in tables.subject_rows(db):
        digest.update(f"{sha256} {body}\n".encode("utf-8", "surrogatepass"))
    head = evidence.journal.head
    return (head.count, head.hash), digest.hexdigest(), records


def test_the_records_written_for_known_inputs_are_pinned_byte_for_byte():
    head, content, records = _recorded()
    assert verify_chain(records).ok
    assert head == PINNED_HEAD
    assert content == PINNED_CONTENT


def test_what_an_append_returns_is_what_was_stored():
    evidence = NodeEvidence(
        identity=None,  # type: ignore[arg-type]
        settings=EvidenceSection(),
        store=None,  # type: ignore[arg-type]
        clock=Clock(timedelta(microseconds=1_001)),
    )
    db = fresh_db()
    evidence.journal.load(db)
    data: dict[str, Any] = {"nested": {"list": [1, 2]}, "b": 1.5, "a": "z"}
    returned = evidence.append(db, "state.changed", process_id="urn:p", peer=PEER, subject=dict(AGREEMENT), data=data)
    data["nested"]["list"].append(3)  # the caller's later changes do not reach the record
    stored = Record.from_json(next(tables.record_rows(db, 1)))
    assert returned == stored and returned.intact
    assert returned.data_json == stored.data_json and list(returned.data) == list(stored.data)
