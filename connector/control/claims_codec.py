"""Verified claims as stored with a process, so later decisions (agreement, transfer) see what was verified.

Only what verification established is kept: credential ids, types, issuers, federations, subject claims,
validity, the hash of each credential as presented (which the evidence log and signatures refer to), and where
each credential's status is published (list URL, index, purpose), so that the data plane can re-establish the
peer's standing at every pull without asking the peer (`trust.standing`). Claims stored before the status was
kept read back without it, and a re-check refuses them (``credential.status_missing``). Credentials recognised
through recognition statements are kept with the path they came through (each statement and its status entry), so
that a later decision relies on them as the first did, and a re-check sees a revoked statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connector.trust.claims import (
    RecognisedCredential,
    RecognitionStep,
    StatusEntry,
    VerifiedClaims,
    VerifiedCredential,
)


def _credential_json(c: VerifiedCredential) -> dict[str, Any]:
    out = {
        "id": c.id,
        "types": list(c.types),
        "issuer": c.issuer,
        "federation": c.federation,
        "subject": dict(c.subject),
        "validFrom": c.valid_from.isoformat(),
        "validUntil": c.valid_until.isoformat() if c.valid_until else None,
        "sha256": c.sha256,
        "status": _status_json(c.status),
    }
    if c.federation_id:
        out["federationId"] = c.federation_id
    return out


def _credential_of(c: Mapping[str, Any]) -> VerifiedCredential:
    return VerifiedCredential(
        id=c["id"],
        types=tuple(c["types"]),
        issuer=c["issuer"],
        federation=c["federation"],
        subject=c["subject"],
        valid_from=datetime.fromisoformat(c["validFrom"]),
        valid_until=datetime.fromisoformat(c["validUntil"]) if c.get("validUntil") else None,
        sha256=c["sha256"],
        status=_status_of(c.get("status")),
        federation_id=c.get("federationId", ""),
    )


def _recognised_json(r: RecognisedCredential) -> dict[str, Any]:
    return {
        "credential": _credential_json(r.credential),
        "original": r.original.id,
        "purposes": sorted(r.purposes) if r.purposes is not None else None,
        "path": [
            {
                "statement": step.statement,
                "by": step.by,
                "byId": step.by_id,
                "of": step.of,
                "issuer": step.issuer,
                "accepted": step.accepted,
                "validUntil": step.valid_until.isoformat(),
                "status": _status_json(step.status),
            }
            for step in r.path
        ],
    }


def _recognised_of(r: Mapping[str, Any], originals: Mapping[str, VerifiedCredential]) -> RecognisedCredential:
    path = tuple(
        RecognitionStep(
            s["statement"],
            s["by"],
            s["byId"],
            s["of"],
            s["issuer"],
            s["accepted"],
            datetime.fromisoformat(s["validUntil"]),
            _status_of(s.get("status")),
        )
        for s in r["path"]
    )
    purposes = r.get("purposes")
    return RecognisedCredential(
        _credential_of(r["credential"]),
        originals[r["original"]],
        path,
        frozenset(purposes) if purposes is not None else None,
    )


def to_json(claims: VerifiedClaims) -> dict[str, Any]:
    out: dict[str, Any] = {
        "participantId": claims.participant_id,
        "verifiedAt": claims.verified_at.isoformat(),
        "credentials": [_credential_json(c) for c in claims.credentials],
    }
    if claims.recognised:
        out["recognised"] = [_recognised_json(r) for r in claims.recognised]
    return out


def from_json(data: Mapping[str, Any] | None, participant_id: str, now: datetime) -> VerifiedClaims:
    if not data:
        return VerifiedClaims(participant_id=participant_id, verified_at=now)
    credentials = tuple(_credential_of(c) for c in data.get("credentials", []))
    originals = {c.id: c for c in credentials}
    return VerifiedClaims(
        participant_id=data["participantId"],
        verified_at=datetime.fromisoformat(data["verifiedAt"]),
        credentials=credentials,
        recognised=tuple(_recognised_of(r, originals) for r in data.get("recognised", [])),
    )


def _status_json(status: StatusEntry | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "type": status.type,
        "purpose": status.purpose,
        "index": status.index,
        "listUrl": status.list_url,
        "id": status.id,
    }


def _status_of(data: Mapping[str, Any] | None) -> StatusEntry | None:
    if not data:
        return None
    return StatusEntry(data["purpose"], int(data["index"]), data["listUrl"], data.get("id"), data["type"])
