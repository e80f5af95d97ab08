"""Recognition statements an authority signs for its federation: which credentials of another federation it accepts
as equivalent to its own, for which purposes, until when (`connector.trust.recognition`).

The other federation is named by its trust list (either form), verified under the certificate it carries: its id,
its name and that certificate's SHA-256 go into the statement, so that nodes apply it only to credentials verified
against that very list. Each statement gets a status entry in the authority's status lists and a line in its
credential ledger: ``connector pki revoke --credential-id <statement id>`` revokes it like any credential.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector import keys
from connector.errors import ConnectorError
from connector.pki.authority import Authority
from connector.pki.credentials import STATUS_PURPOSE, allocate_status
from connector.trust.claims import MEMBERSHIP_CREDENTIAL, StatusEntry
from connector.trust.recognition import ASSURANCE_LEVELS, RECOGNITION_TYPE, Equivalence, issue_recognition
from connector.trust.trust_list import read_list_file, verify_self_anchored


@dataclass(frozen=True)
class IssuedRecognition:
    id: str
    recognised: str  # the other federation's name
    status: StatusEntry
    valid_until: datetime
    token: str
    path: Path | None


def parse_accept(value: str) -> tuple[str, str]:
    """``Theirs`` or ``Theirs=Ours``: a credential type of the other federation and the one it counts as."""
    theirs, _, ours = value.partition("=")
    theirs, ours = theirs.strip(), (ours or theirs).strip()
    if not theirs or not ours:
        raise ConnectorError("pki.bad_accept", f"'{value}' is not TYPE or THEIR_TYPE=OUR_TYPE", "--accept")
    return theirs, ours


def issue_recognition_statement(
    authority: Authority,
    other_trust_list: Path,
    accept: Sequence[tuple[str, str]],
    purposes: Sequence[str] = (),
    valid_days: float = 365,
    transitive: bool = False,
    minimum_level: str | None = None,
    out: Path | None = None,
    now: datetime | None = None,
) -> IssuedRecognition:
    """Sign a statement that the authority's federation recognises the federation of `other_trust_list`."""
    from connector.pki.services import ISSUER, service

    now = now or datetime.now(UTC)
    if valid_days <= 0:
        raise ConnectorError("pki.bad_validity", "a recognition must be valid for some time", "--valid-days")
    if minimum_level is not None and minimum_level not in ASSURANCE_LEVELS:
        raise ConnectorError("pki.bad_level", f"'{minimum_level}' is not low, substantial or high", "--min-level")
    if not accept:
        raise ConnectorError("pki.bad_accept", "name at least one credential type to accept", "--accept")
    try:
        text = read_list_file(Path(other_trust_list))
    except FileNotFoundError:
        raise ConnectorError("pki.missing_file", f"trust list not found: {other_trust_list}", "--trust-list") from None
    except (OSError, ValueError) as exc:
        raise ConnectorError("pki.unreadable", f"cannot read {other_trust_list}: {exc}", "--trust-list") from None
    try:
        other = verify_self_anchored(text, now)
    except ConnectorError as exc:
        raise ConnectorError(exc.code, f"{other_trust_list} cannot be used: {exc.reason}", "--trust-list") from None
    if other.federation_id == authority.federation_id:
        raise ConnectorError("pki.bad_recognition", "a federation does not recognise itself", "--trust-list")
    if not service(authority, ISSUER).granted_now:
        raise ConnectorError(
            "pki.service_withdrawn", f"the credential issuer of '{authority.name}' is withdrawn: it signs nothing"
        )
    allowed = frozenset(purposes) if purposes else None
    equivalences = [
        Equivalence(
            theirs,
            ours,
            {"memberOf": authority.federation_id} if ours == MEMBERSHIP_CREDENTIAL else {},
            minimum_level,
            None,
            allowed,
        )
        for theirs, ours in accept
    ]
    valid_from = now - timedelta(minutes=5)
    valid_until = now + timedelta(days=valid_days)
    statement_id = f"urn:uuid:{uuid.uuid4()}"
    with authority.locked():
        ledger = authority.credential_ledger()
        list_id, index = allocate_status(ledger)
        status = StatusEntry(STATUS_PURPOSE, index, authority.status_list_url(list_id))
        token = issue_recognition(
            authority.credential_key(),
            authority.credential_kid,
            authority.issuer_id,
            (authority.federation_id, authority.name),
            (other.federation_id, other.federation_name, other.signer_sha256),
            equivalences,
            valid_from,
            valid_until,
            status,
            transitive,
            statement_id,
        )
        ledger.append(
            {
                "id": statement_id,
                "participant_id": other.federation_id,
                "type": RECOGNITION_TYPE,
                "status_list": list_id,
                "status_index": index,
                "issued": now.isoformat(),
                "valid_until": valid_until.isoformat(),
                "revoked": None,
            }
        )
        path = None
        if out is not None:
            path = Path(out)
            path.parent.mkdir(parents=True, exist_ok=True)
            keys.write_public_file(path, (token + "\n").encode("ascii"))
        authority.save_credential_ledger(ledger)
    return IssuedRecognition(statement_id, other.federation_name, status, valid_until, token, path)
