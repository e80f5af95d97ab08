"""The services a federation accredits, and the history of their status, as its authority keeps them.

An authority folder vouches for three services: its root CA (which certifies participants), its credential
issuer (which attests their membership and organisation) and its time-stamp authority. ``services.json`` records
each one's ETSI service type and every status it has had, with the time each took effect; the trust list in the
form of ETSI TS 119 612 publishes that history, so that verifiers judge a credential or a time-stamp by the status
its service had when it was made. A folder made before this file existed gets it on first use, every service
granted since the root certificate's start of validity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connector import keys
from connector.errors import ConnectorError
from connector.pki.authority import Authority
from connector.trust.services import CA_PKC, EAA, GRANTED, STATUS_NAMES, TSA, ServiceHistory, StatusChange

SERVICES_FILE = "services.json"
CA, ISSUER, TIME_STAMPING = "ca", "issuer", "tsa"
_DEFAULTS = (
    (CA, CA_PKC, "root certification authority"),
    (ISSUER, EAA, "credential issuer"),
    (TIME_STAMPING, TSA, "time-stamp authority"),
)


@dataclass(frozen=True)
class ServiceRecord:
    key: str  # ca | issuer | tsa
    type: str  # the ETSI service type URI
    name: str
    history: ServiceHistory

    @property
    def granted_now(self) -> bool:
        return self.history.approved_now


def _read(authority: Authority) -> dict[str, Any] | None:
    try:
        data = json.loads((authority.dir / SERVICES_FILE).read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        raise ConnectorError(
            "pki.corrupt", f"{authority.dir / SERVICES_FILE} is not valid JSON", "--authority"
        ) from None
    return data if isinstance(data, dict) else None


def _defaults(authority: Authority) -> dict[str, Any]:
    since = authority.ca_cert().not_valid_before_utc.isoformat()
    return {
        "services": [
            {
                "key": key,
                "type": kind,
                "name": f"{authority.name} {what}",
                "history": [{"status": GRANTED, "since": since}],
            }
            for key, kind, what in _DEFAULTS
        ]
    }


def _records(data: dict[str, Any]) -> tuple[ServiceRecord, ...]:
    try:
        return tuple(
            ServiceRecord(
                s["key"],
                s["type"],
                s["name"],
                ServiceHistory.of(StatusChange(h["status"], datetime.fromisoformat(h["since"])) for h in s["history"]),
            )
            for s in data["services"]
        )
    except (KeyError, TypeError, ValueError):
        raise ConnectorError("pki.corrupt", f"{SERVICES_FILE} is not a list of services", "--authority") from None


def services(authority: Authority) -> tuple[ServiceRecord, ...]:
    """The authority's services and their status histories (the defaults for a folder without the file)."""
    data = _read(authority)
    return _records(data if data is not None else _defaults(authority))


def service(authority: Authority, key: str) -> ServiceRecord:
    found = next((s for s in services(authority) if s.key == key), None)
    if found is None:
        raise ConnectorError(
            "pki.unknown_service", f"the authority has no service '{key}' (ca, issuer or tsa)", "--service"
        )
    return found


def change_status(authority: Authority, key: str, status: str, since: datetime | None = None) -> ServiceRecord:
    """Record that service `key` has `status` (granted or withdrawn) from `since` (now by default); a change
    may not predate the service's latest one (history is appended to, never rewritten)."""
    if status not in STATUS_NAMES:
        raise ConnectorError("pki.bad_status", f"unknown status '{status}' (granted or withdrawn)", "--status")
    since = since or datetime.now(UTC)
    if since.tzinfo is None:
        raise ConnectorError("pki.bad_time", "the time a status takes effect needs a timezone (e.g. Z)", "--since")
    since = since.replace(microsecond=0)  # trusted lists state whole seconds
    with authority.locked():
        data = _read(authority) or _defaults(authority)
        entry = next((s for s in data["services"] if s.get("key") == key), None)
        if entry is None:
            raise ConnectorError(
                "pki.unknown_service", f"the authority has no service '{key}' (ca, issuer or tsa)", "--service"
            )
        last = datetime.fromisoformat(entry["history"][-1]["since"])
        if since <= last:
            raise ConnectorError(
                "pki.bad_time",
                f"the service's status last changed at {last.isoformat()}; a new status must take effect later",
                "--since",
            )
        entry["history"].append({"status": STATUS_NAMES[status], "since": since.astimezone(UTC).isoformat()})
        keys.write_public_file(
            authority.dir / SERVICES_FILE, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
        )
    return service(authority, key)
