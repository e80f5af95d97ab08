"""Gathering what a bundle holds from the node's store (on the store thread, in one read transaction).

The records disclosed are those about the agreement's negotiation and its transfers, up to the first checkpoint
that covers them; the proof carries the body digest of every other record in that run, so it shows nothing
about other peers or processes. No bearer secret leaves in a bundle: the log keeps data addresses with their
tokens withheld (`evidence.secrets`), and a message logged with one before that is disclosed by its hash alone.
The node edge makes sure such a checkpoint exists before it calls `gather`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.canonical import sha256_hex
from connector.errors import ConnectorError
from connector.evidence.bundle import build_bundle
from connector.evidence.chain import CREDENTIAL_VERIFIED, Record, make_inclusion_proof
from connector.evidence.errors import EvidenceError
from connector.evidence.rfc3339 import parse_utc
from connector.evidence.secrets import holds_secrets
from connector.jws import read_header
from connector.records.evidence import StoredSignature
from connector.records.processes import Agreement, Negotiation, Transfer
from connector.store.interface import Tx
from connector.store.sql import evidence as tables
from connector.store.sql import flows, trust
from connector.store.sql import processes as repo


def _processes(db: Tx, agreement_id: str) -> tuple[Agreement, Negotiation, list[Transfer]]:
    agreement = repo.get_agreement(db, agreement_id)
    if agreement is None:
        raise ConnectorError("agreement.not_found", f"no agreement '{agreement_id}' is known to this node")
    negotiation = repo.get_negotiation(db, agreement.negotiation_id)
    if negotiation is None:
        raise ConnectorError(
            "negotiation.not_found", f"the negotiation of agreement '{agreement_id}' is missing from the store"
        )
    return agreement, negotiation, repo.transfers_under(db, agreement_id)


def last_seq_about(db: Tx, agreement_id: str) -> int:
    """The highest seq of a record about the agreement (0 if none): the checkpoint must reach it."""
    _, negotiation, transfers = _processes(db, agreement_id)
    return tables.last_seq_of(db, [negotiation.id] + [t.id for t in transfers])


def archived_part(db: Tx, agreement_id: str) -> str | None:
    """The newest archive file that may hold records about the agreement (its negotiation began before that
    archive's checkpoint), or None: a bundle is made from the live log alone, which then does not hold them all."""
    done = tables.archives(db)
    if not done:
        return None
    _, negotiation, _ = _processes(db, agreement_id)
    anchor = tables.get_checkpoint(db, done[-1].checkpoint_id)
    cut = parse_utc(anchor.at if anchor is not None else done[-1].at)
    return done[-1].file if negotiation.created_at <= cut else None


@dataclass(frozen=True)
class Gathered:
    document: dict[str, Any]
    checkpoint_id: int
    disclosed: int


def _seal_of(db: Tx, transfer_id: str) -> Mapping[str, Any] | None:
    flow = flows.get_flow(db, transfer_id)
    seal = None if flow is None else flow.seal
    return seal if isinstance(seal, dict) else None


def _presented_by(db: Tx, peer: str) -> dict[str, str]:
    """The credentials `peer` presented to this node, as logged when they were verified: sha256 -> token."""
    hashes = tables.subject_hashes(db, CREDENTIAL_VERIFIED, peer)
    found: dict[str, str] = {}
    for body in tables.subjects(db, hashes).values():
        try:
            tokens = json.loads(body).get("credentials", [])
        except (TypeError, ValueError, AttributeError):
            continue
        for token in tokens if isinstance(tokens, list) else []:
            if isinstance(token, str):
                found[sha256_hex(token.encode("utf-8", "surrogatepass"))] = token
    return found


def _credentials(db: Tx, negotiation: Any, own_did: str, covered: set[str]) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    claims = negotiation.claims or {}
    presented: dict[str, str] | None = None
    for c in claims.get("credentials", []) if isinstance(claims, Mapping) else []:
        if isinstance(c, Mapping) and isinstance(c.get("sha256"), str):
            if presented is None:
                presented = _presented_by(db, negotiation.peer_id)
            # The peer's credential in full when the log kept it as presented, else by its hash alone.
            out.append(
                {
                    "sha256": c["sha256"],
                    "holder": negotiation.peer_id,
                    "id": c.get("id"),
                    "types": list(c.get("types") or []),
                    "issuer": c.get("issuer"),
                    "token": presented.get(c["sha256"]),
                }
            )
    if covered:
        # Our own credentials, in full, where the peer's signature says it relied on them.
        for row in trust.own_credential_rows(db):
            if row["sha256"] in covered and row["sha256"] not in {c["sha256"] for c in out}:
                try:
                    types = json.loads(row["types"])
                except (TypeError, ValueError):
                    types = []
                out.append(
                    {
                        "sha256": row["sha256"],
                        "holder": own_did,
                        "id": row["id"],
                        "types": types if isinstance(types, list) else [],
                        "issuer": row["issuer"],
                        "token": row["token"],
                    }
                )
    return out


def _covered(signatures: Mapping[str, StoredSignature]) -> set[str]:
    found: set[str] = set()
    for signature in signatures.values():
        if signature.jws is None:
            continue
        try:
            values = read_header(signature.jws).get("vc_sha256")
        except ConnectorError:
            continue
        if isinstance(values, list):
            found.update(v for v in values if isinstance(v, str))
    return found


def gather(
    db: Tx, agreement_id: str, own_did: str, exported_at: str, did_documents: Mapping[str, Mapping[str, Any]]
) -> Gathered:
    """The bundle of `agreement_id`, proven against the first checkpoint covering its records."""
    agreement, negotiation, transfers = _processes(db, agreement_id)
    ids = [negotiation.id] + [t.id for t in transfers]
    rows = tables.records_of(db, ids)
    if not rows:
        raise EvidenceError(
            "evidence.no_records",
            f"the log holds no record about agreement '{agreement_id}' (was evidence off when it was negotiated?)",
        )
    checkpoint = tables.checkpoint_covering(db, rows[-1]["seq"])
    if checkpoint is None:
        raise EvidenceError("evidence.no_checkpoint", "no checkpoint covers the agreement's records yet")
    try:
        segment = [Record.from_json(r) for r in tables.record_rows(db, rows[0]["seq"], checkpoint.count)]
        proof = make_inclusion_proof(segment, [r["seq"] for r in rows], upto=checkpoint.count)
    except EvidenceError as exc:
        raise EvidenceError(
            "evidence.log_broken",
            f"the stored log does not verify ({exc.reason}); run 'connector evidence check'",
            exc.where,
        ) from None
    hashes = sorted({r.subject_sha256 for r in proof.records if r.subject_sha256})
    subjects = {sha: json.loads(body) for sha, body in tables.subjects(db, hashes).items()}
    # A message logged before tokens were withheld still holds one: it goes by its hash alone, never in full.
    subjects = {sha: body for sha, body in subjects.items() if not holds_secrets(body)}
    signatures = tables.signatures_of(db, agreement_id)
    held = {role: {"status": s.status, "jws": s.jws} for role, s in signatures.items()}
    document = build_bundle(
        exported_by=own_did,
        exported_at=exported_at,
        agreement=agreement.policy,
        negotiation={
            "id": negotiation.id,
            "role": str(negotiation.role),
            "peer": negotiation.peer_id,
            "providerPid": negotiation.provider_pid,
            "consumerPid": negotiation.consumer_pid,
            "state": str(negotiation.state),
        },
        signatures=held,
        credentials=_credentials(db, negotiation, own_did, _covered(signatures)),
        did_documents=did_documents,
        transfers=[
            {
                "id": t.id,
                "role": str(t.role),
                "providerPid": t.provider_pid,
                "consumerPid": t.consumer_pid,
                "state": str(t.state),
                "format": t.format,
                "seal": _seal_of(db, t.id),
            }
            for t in transfers
        ],
        subjects=subjects,
        log_node=own_did,
        proof=proof,
        checkpoint=checkpoint.jws,
        timestamps=[t.token for t in tables.timestamps(db, checkpoint.id)],
    )
    return Gathered(document, checkpoint.id, len(proof.records))
