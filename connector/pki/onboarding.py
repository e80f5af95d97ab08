"""Who an authority vouches for, and what participants asked it for: the onboarding record of its operator.

``onboarding.json`` in the authority folder holds two lists, changed only under the folder lock:

- ``participants``: the participants the operator onboarded (`onboard`), or approved once: the participant id,
  the legal name and country its organisation credential states, optionally the base registry entry its
  organisation credential is checked against when issued (registry, publication file, identifier), and
  optionally the SHA-256 of the keys it will enrol (pins). An onboarded participant's requests are granted
  without the operator: its certificate signing requests (once, or whenever they hold pinned keys) and its
  credential requests.
- ``requests``: every request a participant sent over the network: certificates (its signing requests, by
  `connector pki enrol`) and credentials (DCP's CredentialRequestMessage), with their status: ``RECEIVED``
  (waiting for the operator: `connector pki approve` or `reject`), ``APPROVED`` (credentials to be issued),
  ``ISSUED`` or ``REJECTED``. A credential request keeps what its delivery needs: the holder's storage grant and,
  once issued, the credentials and when they were delivered.

No participant's private key is ever part of it: a certificate request holds signing requests, an answer
certificates.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector import keys
from connector.errors import ConnectorError
from connector.pki import certificates
from connector.pki.authority import Authority
from connector.pki.credentials import RegistryRequest

ONBOARDING_FILE = "onboarding.json"
CERTIFICATES = "certificates"
CREDENTIALS = "credentials"
RECEIVED, APPROVED, ISSUED, REJECTED = "RECEIVED", "APPROVED", "ISSUED", "REJECTED"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _load(authority: Authority) -> dict[str, Any]:
    try:
        data = json.loads((authority.dir / ONBOARDING_FILE).read_text())
    except FileNotFoundError:
        return {"participants": [], "requests": []}
    except ValueError:
        raise ConnectorError(
            "pki.corrupt", f"{authority.dir / ONBOARDING_FILE} is not valid JSON", "--authority"
        ) from None
    data.setdefault("participants", [])
    data.setdefault("requests", [])
    return data


def _save(authority: Authority, data: dict[str, Any]) -> None:
    keys.write_public_file(
        authority.dir / ONBOARDING_FILE, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
    )


def stamp(authority: Authority) -> tuple[int, int]:
    """Changes whenever the record changes (the service watches it for approvals made from the command line)."""
    try:
        st = (authority.dir / ONBOARDING_FILE).stat()
        return st.st_mtime_ns, st.st_size
    except FileNotFoundError:
        return -1, -1


@dataclass(frozen=True)
class Onboarded:
    participant_id: str
    name: str | None
    country: str | None
    key_pins: tuple[str, ...]
    enrolled: str | None  # when its first certificates were issued without the operator
    registry: RegistryRequest | None = None  # checked when its organisation credential is issued

    @classmethod
    def of(cls, entry: dict[str, Any], folder: Path | None = None) -> Onboarded:
        """`folder`: the authority's, against which a registry publication named by a relative path is read."""
        registry = None
        held = entry.get("registry")
        if isinstance(held, dict):
            file = Path(held["file"])
            if not file.is_absolute() and folder is not None:
                file = folder / file
            registry = RegistryRequest(held["registry"], file, held["identifier"])
        return cls(
            entry["participant_id"],
            entry.get("name"),
            entry.get("country"),
            tuple(entry.get("key_pins", ())),
            entry.get("enrolled"),
            registry,
        )


# --- the operator's side ----------------------------------------------------------------------------------------


def onboard(
    authority: Authority,
    participant_id: str,
    name: str | None = None,
    country: str | None = None,
    key_pins: Iterable[str] = (),
    registry: RegistryRequest | None = None,
) -> Onboarded:
    """Record a participant as onboarded (again: its entry is replaced). With `registry`, its organisation
    credential is checked against that base registry publication whenever it is issued (a file inside the
    authority's folder is recorded relative to it)."""
    from connector.participant import check_participant_id

    check_participant_id(participant_id, where="--participant-id")
    if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
        raise ConnectorError(
            "pki.bad_country",
            f"'{country}' is not an ISO 3166-1 alpha-2 country code (two capital letters, e.g. JP, DE)",
            "--country",
        )
    pins = tuple(p.lower() for p in key_pins)
    if not all(_SHA256.match(p) for p in pins):
        raise ConnectorError("pki.bad_pin", "a key pin is the hex SHA-256 of the key (64 characters)", "--key-sha256")
    with authority.locked():
        data = _load(authority)
        kept = [p for p in data["participants"] if p["participant_id"] != participant_id]
        entry: dict[str, Any] = {
            "participant_id": participant_id,
            "name": name,
            "country": country,
            "onboarded": _now(),
        }
        if pins:
            entry["key_pins"] = list(pins)
        if registry is not None:
            file = Path(registry.file).absolute()
            held = file.relative_to(authority.dir.absolute()) if file.is_relative_to(authority.dir.absolute()) else file
            entry["registry"] = {"registry": registry.registry, "file": str(held), "identifier": registry.identifier}
        kept.append(entry)
        data["participants"] = kept
        _save(authority, data)
    return Onboarded.of(entry, authority.dir)


def onboarded(authority: Authority, participant_id: str) -> Onboarded | None:
    for entry in _load(authority)["participants"]:
        if entry["participant_id"] == participant_id:
            return Onboarded.of(entry, authority.dir)
    return None


def participants(authority: Authority) -> list[Onboarded]:
    return [Onboarded.of(e, authority.dir) for e in _load(authority)["participants"]]


def requests(authority: Authority, status: str | None = None) -> list[dict[str, Any]]:
    return [r for r in _load(authority)["requests"] if status is None or r["status"] == status]


def request(authority: Authority, request_id: str) -> dict[str, Any]:
    for entry in _load(authority)["requests"]:
        if entry["id"] == request_id:
            return entry
    raise ConnectorError("pki.unknown_request", f"this authority has no request {request_id[:80]}", "REQUEST")


def update(authority: Authority, request_id: str, **changes: Any) -> dict[str, Any]:
    """Change a request's fields (its status and what goes with it)."""
    with authority.locked():
        data = _load(authority)
        for entry in data["requests"]:
            if entry["id"] == request_id:
                entry.update(changes)
                entry["updated"] = _now()
                _save(authority, data)
                return dict(entry)
    raise ConnectorError("pki.unknown_request", f"this authority has no request {request_id[:80]}", "REQUEST")


def approve(authority: Authority, request_id: str) -> dict[str, Any]:
    """The operator grants a waiting request: certificates are signed at once (and the participant is onboarded
    with the organisation its requests name), credentials become APPROVED for the service to issue and deliver."""
    entry = request(authority, request_id)
    if entry["status"] != RECEIVED:
        raise ConnectorError(
            "pki.request_settled", f"request {request_id} is {entry['status']}, not waiting for approval", "REQUEST"
        )
    if entry["kind"] == CERTIFICATES:
        parsed = [certificates.read_request(pem, "request") for pem in entry["csrs"]]
        _onboard_from(authority, parsed)
        return _sign(authority, entry, parsed)
    if onboarded(authority, entry["participant_id"]) is None:
        onboard(authority, entry["participant_id"])
    return update(authority, request_id, status=APPROVED, approved=_now())


def reject(authority: Authority, request_id: str, reason: str) -> dict[str, Any]:
    entry = request(authority, request_id)
    if entry["status"] not in (RECEIVED, APPROVED):
        raise ConnectorError(
            "pki.request_settled", f"request {request_id} is {entry['status']}, it cannot be rejected now", "REQUEST"
        )
    return update(authority, request_id, status=REJECTED, reason=reason or "rejected by the authority")


def _onboard_from(authority: Authority, parsed: list[certificates.CertificateRequest]) -> None:
    pid = parsed[0].participant_id
    if onboarded(authority, pid) is None:
        first = next((r for r in parsed if r.organisation or r.country), parsed[0])
        onboard(authority, pid, first.organisation, first.country)


# --- what participants send ---------------------------------------------------------------------------------------


def _new_request(authority: Authority, entry: dict[str, Any]) -> dict[str, Any]:
    entry = {"id": str(uuid.uuid4()), "status": RECEIVED, "created": _now(), "updated": _now(), **entry}
    with authority.locked():
        data = _load(authority)
        data["requests"].append(entry)
        _save(authority, data)
    return entry


def _auto_enrol(authority: Authority, parsed: list[certificates.CertificateRequest]) -> bool:
    """Whether signing requests are granted without the operator: an onboarded, unrevoked participant, whose keys
    are pinned, or which enrols for the first time."""
    pid = parsed[0].participant_id
    entry = onboarded(authority, pid)
    if entry is None or authority.is_revoked_participant(pid):
        return False
    if entry.key_pins:
        return all(r.key_sha256 in entry.key_pins for r in parsed)
    return entry.enrolled is None


def submit_certificates(authority: Authority, csr_pems: list[str]) -> dict[str, Any]:
    """A participant's signing requests (one TLS, one signing), as `connector pki enrol` sends them."""
    parsed = [certificates.read_request(pem, f"csrs[{i}]") for i, pem in enumerate(csr_pems)]
    if sorted(r.kind for r in parsed) != sorted(certificates.KINDS):
        raise ConnectorError("pki.bad_request", "send one TLS and one signing request", "csrs")
    if len({r.participant_id for r in parsed}) != 1:
        raise ConnectorError("pki.bad_request", "the requests name different participant ids", "csrs")
    entry = _new_request(
        authority,
        {
            "kind": CERTIFICATES,
            "participant_id": parsed[0].participant_id,
            "csrs": [r.pem for r in parsed],
            "keys": {r.kind: r.key_sha256 for r in parsed},
        },
    )
    if _auto_enrol(authority, parsed):
        return _sign(authority, entry, parsed, enrolled=True)
    return entry


def _sign(
    authority: Authority, entry: dict[str, Any], parsed: list[certificates.CertificateRequest], enrolled: bool = False
) -> dict[str, Any]:
    issued = authority.sign_requests(parsed)
    if enrolled:
        with authority.locked():
            data = _load(authority)
            for p in data["participants"]:
                if p["participant_id"] == issued.participant_id:
                    p["enrolled"] = _now()
            _save(authority, data)
    return update(authority, entry["id"], status=ISSUED, certificates=issued.pems())


def submit_credentials(
    authority: Authority, holder: str, holder_pid: str, credential_types: list[str], storage_grant: str | None
) -> dict[str, Any]:
    """A holder's verified CredentialRequestMessage; APPROVED at once for an onboarded participant."""
    status = APPROVED if onboarded(authority, holder) is not None else RECEIVED
    return _new_request(
        authority,
        {
            "kind": CREDENTIALS,
            "participant_id": holder,
            "holder_pid": holder_pid,
            "credential_types": credential_types,
            "storage_grant": storage_grant,
            "status": status,
        },
    )


def issue_credentials(authority: Authority, request_id: str) -> dict[str, Any]:
    """Issue what an APPROVED credential request asks for; it becomes ISSUED with the credentials (to deliver),
    or REJECTED with the reason (a revoked participant, an organisation credential without a legal name)."""
    from connector.pki.credentials import KINDS, issue_participant_credential

    entry = request(authority, request_id)
    if entry["kind"] != CREDENTIALS or entry["status"] != APPROVED:
        return entry
    holder = entry["participant_id"]
    who = onboarded(authority, holder)
    kinds = {t: k for k, t in KINDS.items()}
    issued = []
    try:
        for credential_type in entry["credential_types"]:
            kind = kinds.get(credential_type)
            if kind is None:
                raise ConnectorError("pki.credential_type", f"this authority does not issue {credential_type}")
            name = country = None
            registry = None
            if kind == "organization":
                if who is None or not who.name or not who.country:
                    raise ConnectorError(
                        "pki.credential_option",
                        "the authority holds no legal name and country for this participant "
                        "(connector pki onboard --name --country)",
                    )
                name, country, registry = who.name, who.country, who.registry
            made = issue_participant_credential(authority, holder, kind, country=country, name=name, registry=registry)
            issued.append({"id": made.id, "credentialType": credential_type, "payload": made.token})
    except ConnectorError as exc:
        return update(authority, request_id, status=REJECTED, reason=exc.reason, issued_credentials=[])
    return update(authority, request_id, status=ISSUED, issued_credentials=issued, issued_at=_now())
