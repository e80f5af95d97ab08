"""Verified claims as stored with a process, so later decisions (agreement, transfer) see what was verified.

Only what verification established is kept: credential ids, types, issuers, federations, subject claims,
validity, the hash of each credential as presented (which the evidence log and signatures refer to), and where
each credential's status is published (list URL, index, purpose), so that the data plane can re-establish the
peer's standing at every pull without asking the peer (`trust.standing`). Claims stored before the status was
kept read back without it, and a re-check refuses them (``credential.status_missing``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connector.trust.claims import VerifiedClaims, VerifiedCredential
from connector.trust.credentials import StatusEntry


def to_json(claims: VerifiedClaims) -> dict[str, Any]:
    return {
        "participantId": claims.participant_id,
        "verifiedAt": claims.verified_at.isoformat(),
        "credentials": [
            {
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
            for c in claims.credentials
        ],
    }


def from_json(data: Mapping[str, Any] | None, participant_id: str, now: datetime) -> VerifiedClaims:
    if not data:
        return VerifiedClaims(participant_id=participant_id, verified_at=now)
    return VerifiedClaims(
        participant_id=data["participantId"],
        verified_at=datetime.fromisoformat(data["verifiedAt"]),
        credentials=tuple(
            VerifiedCredential(
                id=c["id"],
                types=tuple(c["types"]),
                issuer=c["issuer"],
                federation=c["federation"],
                subject=c["subject"],
                valid_from=datetime.fromisoformat(c["validFrom"]),
                valid_until=datetime.fromisoformat(c["validUntil"]) if c.get("validUntil") else None,
                sha256=c["sha256"],
                status=_status_of(c.get("status")),
            )
            for c in data.get("credentials", [])
        ),
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
