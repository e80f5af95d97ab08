"""An authority's trust list: what one federation vouches for, signed by that federation's root.

A list names exactly one federation: its root CA (for TLS and signing certificates), its credential issuer with
the credential key, the types it may issue and where its status lists live. A node that recognises several
federations configures several lists, each pinned to its own root. Every new list carries a higher sequence
number (kept in authority.json under the folder lock), so nodes can refuse a rollback to an older one.
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
from connector.trust.trust_list import build_trust_list, sign_trust_list, trusted_issuer


@dataclass(frozen=True)
class IssuedTrustList:
    sequence: int
    valid_until: datetime
    token: str  # the compact JWS
    paths: tuple[Path, ...]  # where it was written (always the authority folder, plus --out)


def issue_trust_list(
    authority: Authority,
    out: Path | None = None,
    valid_days: float = 30,
    credential_types: Iterable[str] | None = None,
    now: datetime | None = None,
    require_client_certificate: bool = False,
) -> IssuedTrustList:
    """Sign a new trust list of the authority's federation; written to the folder (for the service) and `out`.
    `require_client_certificate`: members must present a client certificate even to nodes that accept peers
    without one."""
    if valid_days <= 0:
        raise ConnectorError("pki.bad_validity", "a trust list must be valid for some time", "--valid-days")
    types = sorted(set(credential_types if credential_types is not None else KINDS.values()))
    if not types:
        raise ConnectorError("pki.bad_types", "a trust list must allow the issuer at least one credential type")
    now = now or datetime.now(UTC)
    with authority.locked():
        sequence = int(authority.meta.get("trust_list_sequence", 0)) + 1
        issuer = trusted_issuer(
            authority.issuer_id,
            authority.name,
            {authority.credential_kid: authority.credential_key()},
            types,
            [authority.status_prefix],
        )
        valid_until = now + timedelta(days=valid_days)
        document = build_trust_list(
            authority.federation_id,
            authority.name,
            sequence,
            now,
            now - timedelta(minutes=5),
            valid_until,
            [authority.ca_cert()],
            [issuer],
            require_client_certificate=require_client_certificate,
        )
        token = sign_trust_list(document, authority.ca_key(), authority.ca_cert())
        data = (token + "\n").encode("ascii")
        paths = [authority.trust_list_path]
        keys.write_public_file(authority.trust_list_path, data)
        if out is not None:
            out = Path(out)
            out.parent.mkdir(parents=True, exist_ok=True)
            keys.write_public_file(out, data)
            paths.append(out)
        authority.meta["trust_list_sequence"] = sequence
        authority.save_meta()
    return IssuedTrustList(sequence, valid_until, token, tuple(paths))
