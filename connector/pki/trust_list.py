"""An authority's trust list: what one federation vouches for, signed by that federation's root.

A list names exactly one federation: its root CA (for TLS and signing certificates), its credential issuer with
the credential key, the types it may issue and where its status lists live, and (in the ETSI form) its time-stamp
authority. A node that recognises several federations configures several lists, each pinned to its own root.
Every new list carries a higher sequence number (kept in authority.json under the folder lock), so nodes can
refuse a rollback to an older one.

Two forms, signed by the same root: the signed JSON list (``trust-list.jws``, a compact JWS) and the ETSI TS 119
612 trusted list (``trust-list.xml``, XAdES-signed), which names each service with its ETSI service type and its
whole status history (`connector.pki.services`). The JSON form has no history: it names the services granted
now, and a withdrawn one is left out of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector import keys
from connector.errors import ConnectorError
from connector.pki.authority import Authority
from connector.pki.credentials import KINDS
from connector.pki.services import CA, ISSUER, TIME_STAMPING, ServiceRecord, services
from connector.trust.trust_list import TrustedIssuer, build_trust_list, sign_trust_list, trusted_issuer

FORMATS = ("jws", "etsi")
ETSI_TRUST_LIST_FILE = "trust-list.xml"


@dataclass(frozen=True)
class IssuedTrustList:
    sequence: int
    valid_until: datetime
    token: str  # the compact JWS, or the signed XML
    paths: tuple[Path, ...]  # where it was written (always the authority folder, plus --out)
    format: str = "jws"


def format_for(out: Path | None, requested: str | None) -> str:
    """The form to write: as asked, else by the file name (``.xml``: ETSI), else the signed JSON list."""
    if requested is not None:
        if requested not in FORMATS:
            raise ConnectorError("pki.bad_format", f"unknown trust list format '{requested}' (jws or etsi)", "--format")
        return requested
    return "etsi" if out is not None and Path(out).suffix.lower() == ".xml" else "jws"


def _issuer(authority: Authority, types: list[str], record: ServiceRecord | None = None) -> TrustedIssuer:
    issuer = trusted_issuer(
        authority.issuer_id,
        authority.name,
        {authority.credential_kid: authority.credential_key()},
        types,
        [authority.status_prefix],
    )
    if record is None:
        return issuer
    return TrustedIssuer(
        issuer.did, issuer.name, issuer.keys, issuer.credential_types, issuer.status_list_prefixes, record.history
    )


def _etsi(authority: Authority, sequence: int, now: datetime, valid_until: datetime, types: list[str]) -> str:
    from connector.pki.tsa import tsa_identity
    from connector.trust.etsi import Provider, Scheme, build_etsi_list, sign_etsi_list
    from connector.trust.services import TrustService

    records = {r.key: r for r in services(authority)}
    issuer = _issuer(authority, types, records[ISSUER])
    certificates = {CA: (authority.ca_cert(),), ISSUER: (), TIME_STAMPING: (tsa_identity(authority, now)[1],)}
    listed = tuple(
        TrustService(
            r.type,
            r.name,
            authority.name,
            certificates.get(r.key, ()),
            r.history,
            issuer.did if r.key == ISSUER else None,
        )
        for r in records.values()
    )
    scheme = Scheme(
        operator=authority.name,
        name=f"{authority.name}: accredited trust services of the federation",
        information_uri=authority.public_url,
        federation_id=authority.federation_id,
        distribution_point=f"{authority.public_url}/{ETSI_TRUST_LIST_FILE}",
    )
    provider = Provider(authority.name, authority.public_url, listed)
    root = build_etsi_list(scheme, sequence, now, valid_until, [provider], [issuer])
    return sign_etsi_list(root, authority.ca_key(), authority.ca_cert())


def issue_trust_list(
    authority: Authority,
    out: Path | None = None,
    valid_days: float = 30,
    credential_types: Iterable[str] | None = None,
    now: datetime | None = None,
    format: str | None = None,
    require_client_certificate: bool = False,
) -> IssuedTrustList:
    """Sign a new trust list of the authority's federation; written to the folder (for the service) and `out`.
    `require_client_certificate`: members must present a client certificate even to nodes that accept peers
    without one (a member of the JSON list; an ETSI list has no place for it)."""
    chosen = format_for(out, format)
    if chosen == "etsi" and require_client_certificate:
        raise ConnectorError(
            "pki.bad_format",
            "an ETSI trusted list cannot say that members need a client certificate; sign the JSON list",
            "--require-client-certificate",
        )
    if valid_days <= 0:
        raise ConnectorError("pki.bad_validity", "a trust list must be valid for some time", "--valid-days")
    types = sorted(set(credential_types if credential_types is not None else KINDS.values()))
    if not types:
        raise ConnectorError("pki.bad_types", "a trust list must allow the issuer at least one credential type")
    now = now or datetime.now(UTC)
    valid_until = now + timedelta(days=valid_days)
    with authority.locked():
        sequence = int(authority.meta.get("trust_list_sequence", 0)) + 1
    if chosen == "etsi":
        text = _etsi(authority, sequence, now, valid_until, types)
        target = authority.dir / ETSI_TRUST_LIST_FILE
    else:
        records = {r.key: r for r in services(authority)}
        document = build_trust_list(
            authority.federation_id,
            authority.name,
            sequence,
            now,
            now - timedelta(minutes=5),
            valid_until,
            [authority.ca_cert()] if records[CA].granted_now else [],
            [_issuer(authority, types)] if records[ISSUER].granted_now else [],
            require_client_certificate=require_client_certificate,
        )
        text = sign_trust_list(document, authority.ca_key(), authority.ca_cert())
        target = authority.trust_list_path
    with authority.locked():
        if int(authority.meta.get("trust_list_sequence", 0)) >= sequence:
            raise ConnectorError("pki.concurrent", "another trust list was signed meanwhile; sign again", "--authority")
        data = (text.rstrip("\n") + "\n").encode("utf-8")
        paths = [target]
        keys.write_public_file(target, data)
        if out is not None:
            out = Path(out)
            out.parent.mkdir(parents=True, exist_ok=True)
            keys.write_public_file(out, data)
            paths.append(out)
        authority.meta["trust_list_sequence"] = sequence
        authority.save_meta()
    return IssuedTrustList(sequence, valid_until, text, tuple(paths), chosen)
