"""What an authority issues besides certificates: verifiable credentials and the status lists that revoke them.

Credentials are JWT VCs (VC data model 2.0) signed with the authority's credential key, never its CA key. Each
points into a Bitstring Status List published at ``<public URL>/status/<n>``; the index is drawn at random (so a
position says nothing about when or to whom it was given) and recorded in ``credentials.json`` under the folder
lock, so two issuances at once never share an index and a revocation is never lost.

The status list credential itself is not stored: the authority's service signs it on demand from the ledger,
with a short validity, so a verifier that caches it sees a revocation within that validity at the latest.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from connector import keys
from connector.errors import ConnectorError
from connector.pki.authority import Authority
from connector.trust.claims import MEMBERSHIP_CREDENTIAL, ORGANIZATION_CREDENTIAL, StatusEntry
from connector.trust.credentials import ISO_3166_ALPHA2, issue_credential
from connector.trust.status_list import MIN_ENTRIES, allocate_index, bitstring_with, issue_status_list_credential
from connector.trust.times import format_date, parse_date

# The command line's names for the credential types.
KINDS = {"membership": MEMBERSHIP_CREDENTIAL, "organization": ORGANIZATION_CREDENTIAL}
STATUS_PURPOSE = "revocation"
STATUS_LIST_SIZE = MIN_ENTRIES
_LIST_ID = re.compile(r"^[1-9][0-9]{0,5}$")


@dataclass(frozen=True)
class RegistryRequest:
    """Check the organisation against a base registry: which one, the publication file, the identifier."""

    registry: str
    file: Path
    identifier: str


@dataclass(frozen=True)
class IssuedCredential:
    id: str
    participant_id: str
    credential_type: str
    status: StatusEntry
    valid_until: datetime
    token: str  # the compact JWT
    path: Path | None  # where it was written, if anywhere


def _now() -> datetime:
    return datetime.now(UTC)


def _subject(
    kind: str, participant_id: str, country: str | None, name: str | None, member_of: str, member_since: date
) -> dict[str, str]:
    if kind == "membership":
        for flag, value in (("--country", country), ("--name", name)):
            if value is not None:
                raise ConnectorError(
                    "pki.credential_option",
                    f"{flag} describes an organization credential, not a membership credential",
                    flag,
                )
        return {"id": participant_id, "memberOf": member_of, "memberSince": format_date(member_since)}
    if not name or not name.strip():
        raise ConnectorError(
            "pki.credential_option", "an organization credential needs the legal name (--name)", "--name"
        )
    if country is None:
        raise ConnectorError(
            "pki.credential_option",
            "an organization credential needs the country of establishment (--country)",
            "--country",
        )
    if country not in ISO_3166_ALPHA2:
        raise ConnectorError(
            "pki.bad_country",
            f"'{country}' is not an ISO 3166-1 alpha-2 country code (two capital letters, e.g. JP, DE)",
            "--country",
        )
    return {"id": participant_id, "legalName": name.strip(), "countryOfEstablishment": country}


def allocate_status(ledger: list[dict[str, object]]) -> tuple[str, int]:
    """A free (list id, index): the lowest-numbered list with room, a random index in it."""
    used: dict[str, set[int]] = {}
    for entry in ledger:
        used.setdefault(str(entry["status_list"]), set()).add(int(entry["status_index"]))  # type: ignore[call-overload]
    number = 1
    while len(used.get(str(number), ())) >= STATUS_LIST_SIZE:
        number += 1
    list_id = str(number)
    return list_id, allocate_index(used.get(list_id, set()), STATUS_LIST_SIZE)


def issue_participant_credential(
    authority: Authority,
    participant_id: str,
    kind: str,
    country: str | None = None,
    name: str | None = None,
    out: Path | None = None,
    valid_days: int = 365,
    now: datetime | None = None,
    registry: RegistryRequest | None = None,
) -> IssuedCredential:
    """Issue a `kind` ("membership" or "organization") credential to a participant; write it to `out`.

    Refused for a participant whose certificates this authority has revoked. A membership credential keeps the
    ``memberSince`` of the participant's first membership with this authority. With `registry`, an organization
    credential states what the base registry's publication says of the organisation (legal name, address,
    identifier), and the check is recorded in the ledger.
    """
    from connector.participant import check_participant_id
    from connector.trust.did import parse_did

    if kind not in KINDS:
        raise ConnectorError(
            "pki.credential_type", f"unknown credential type '{kind}' (use membership or organization)", "--type"
        )
    check_participant_id(participant_id, where="--participant-id")
    try:
        parse_did(participant_id)
    except ConnectorError as exc:
        raise ConnectorError("pki.bad_participant", exc.reason, "--participant-id") from None
    if valid_days < 1:
        raise ConnectorError("pki.bad_validity", "validity must be at least one day", "--valid-days")
    now = now or _now()
    credential_type = KINDS[kind]
    from connector.pki.services import ISSUER, service

    if not service(authority, ISSUER).granted_now:
        raise ConnectorError(
            "pki.service_withdrawn",
            f"the credential issuer of '{authority.name}' is withdrawn (connector pki service): it issues nothing",
            "--authority",
        )
    checked = None
    if registry is not None:
        if kind != "organization":
            raise ConnectorError(
                "pki.credential_option", "a registry check is for an organization credential", "--registry"
            )
        from connector.pki.registries import check_organisation, reconcile

        checked = check_organisation(registry.registry, registry.file, registry.identifier, now)
        name, country = reconcile(checked, name, country)
    with authority.locked():
        if authority.is_revoked_participant(participant_id):
            raise ConnectorError(
                "pki.revoked_participant", f"{participant_id} has been revoked by this authority", "--participant-id"
            )
        ledger = authority.credential_ledger()
        mine = [e for e in ledger if e["participant_id"] == participant_id]
        since = [parse_date(e["member_since"], "pki.corrupt", "member_since") for e in mine if e.get("member_since")]
        member_since = min(since) if since else now.date()
        subject: dict[str, object] = dict(
            _subject(kind, participant_id, country, name, authority.federation_id, member_since)
        )
        if checked is not None:
            subject.update(checked.facts.subject_claims())
        list_id, index = allocate_status(ledger)
        status = StatusEntry(STATUS_PURPOSE, index, authority.status_list_url(list_id))
        valid_from = now - timedelta(minutes=5)  # verifiers' clocks may run a little behind
        valid_until = now + timedelta(days=valid_days)
        credential_id = f"urn:uuid:{uuid.uuid4()}"
        token = issue_credential(
            authority.credential_key(),
            authority.credential_kid,
            authority.issuer_id,
            credential_type,
            subject,
            valid_from,
            valid_until,
            status,
            credential_id,
        )
        entry: dict[str, object] = {
            "id": credential_id,
            "participant_id": participant_id,
            "type": credential_type,
            "status_list": list_id,
            "status_index": index,
            "issued": now.isoformat(),
            "valid_until": valid_until.isoformat(),
            "revoked": None,
        }
        if kind == "membership":
            entry["member_since"] = subject["memberSince"]
        if checked is not None:
            entry["registry_check"] = checked.to_ledger()
        ledger.append(entry)
        path = None
        if out is not None:
            out = Path(out)
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"{kind}.credential.jwt"
            keys.write_public_file(path, (token + "\n").encode("ascii"))
        authority.save_credential_ledger(ledger)
    return IssuedCredential(credential_id, participant_id, credential_type, status, valid_until, token, path)


def status_list_ids(authority: Authority) -> list[str]:
    """The status lists in use (list 1 always exists, so its URL answers even before the first credential)."""
    ids = {str(e["status_list"]) for e in authority.credential_ledger()} | {"1"}
    return sorted(ids, key=int)


def revoked_indexes(authority: Authority, list_id: str) -> frozenset[int]:
    return frozenset(
        int(e["status_index"])
        for e in authority.credential_ledger()
        if str(e["status_list"]) == list_id and e.get("revoked")
    )


def sign_status_list(authority: Authority, list_id: str, validity: timedelta, now: datetime | None = None) -> str:
    """The status list credential for list `list_id` as of now, valid for `validity`."""
    if not _LIST_ID.match(list_id):
        raise ConnectorError("pki.status_list_unknown", f"no status list '{list_id[:20]}'")
    now = now or _now()
    bits = bitstring_with(revoked_indexes(authority, list_id), STATUS_LIST_SIZE)
    return issue_status_list_credential(
        authority.credential_key(),
        authority.credential_kid,
        authority.issuer_id,
        authority.status_list_url(list_id),
        (),
        now - timedelta(minutes=1),
        now + validity,
        purpose=STATUS_PURPOSE,
        base=bits,
    )
