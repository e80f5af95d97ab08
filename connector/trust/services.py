"""Accredited trust services: what a federation vouches for, and since when, in the terms of ETSI TS 119 612.

A federation's trust list names its *services*: certificate authorities (whose certificates identify
participants), credential issuers (attestations of attributes) and time-stamp authorities. Each service has an
ETSI service type (``http://uri.etsi.org/TrstSvc/Svctype/...``) and a status history: a sequence of statuses
(``.../Svcstatus/granted``, ``.../Svcstatus/withdrawn``, ...) each in force from its starting time until the
next. A decision asks for the status *at the relevant time*: a credential issued, or a time-stamp made, while
its service was in an approved status stays valid evidence after a later withdrawal; one made after it does not.

A service read from a list format without history (the signed JSON trust list) has an empty history, which
reads as approved at every instant: those lists name only the services a federation vouches for now, and they
keep meaning what they always meant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from connector.trust.times import format_datetime, require_aware

SVCTYPE = "http://uri.etsi.org/TrstSvc/Svctype/"
SVCSTATUS = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/"

# ETSI TS 119 612 service types this node acts on, by what it uses them for.
CA_PKC = SVCTYPE + "CA/PKC"  # certificates, not qualified: what a federation's root CA is
CA_QC = SVCTYPE + "CA/QC"
NATIONAL_ROOT_CA_QC = SVCTYPE + "NationalRootCA-QC"
TSA = SVCTYPE + "TSA"  # time-stamping, not qualified: what a federation's TSA is
TSA_QTST = SVCTYPE + "TSA/QTST"
TSA_TSS_QC = SVCTYPE + "TSA/TSS-QC"
TSA_TSS_ADES = SVCTYPE + "TSA/TSS-AdESQCandQES"
EAA = SVCTYPE + "EAA"  # electronic attestations of attributes, not qualified: what a credential issuer is
EAA_Q = SVCTYPE + "EAA/Q"
EAA_PUB = SVCTYPE + "EAA/Pub-EAA"

KIND_CA, KIND_ISSUER, KIND_TSA, KIND_OTHER = "ca", "issuer", "tsa", "other"
_KINDS = {
    CA_PKC: KIND_CA,
    CA_QC: KIND_CA,
    NATIONAL_ROOT_CA_QC: KIND_CA,
    TSA: KIND_TSA,
    TSA_QTST: KIND_TSA,
    TSA_TSS_QC: KIND_TSA,
    TSA_TSS_ADES: KIND_TSA,
    EAA: KIND_ISSUER,
    EAA_Q: KIND_ISSUER,
    EAA_PUB: KIND_ISSUER,
}

# Statuses: eIDAS (granted, withdrawn), national schemes, and those of lists from before 2016 kept in histories.
GRANTED = SVCSTATUS + "granted"
WITHDRAWN = SVCSTATUS + "withdrawn"
APPROVED = frozenset(
    SVCSTATUS + s
    for s in (
        "granted",
        "recognisedatnationallevel",
        "setbynationallaw",
        "undersupervision",
        "supervisionincessation",
        "accredited",
    )
)
NOT_APPROVED = frozenset(
    SVCSTATUS + s
    for s in (
        "withdrawn",
        "deprecatedatnationallevel",
        "deprecatedbynationallaw",
        "supervisionceased",
        "supervisionrevoked",
        "accreditationceased",
        "accreditationrevoked",
    )
)
# The names `connector pki service --status` takes.
STATUS_NAMES = {"granted": GRANTED, "withdrawn": WITHDRAWN}


def kind_of(service_type: str) -> str:
    """What the node uses a service of this ETSI type for: ca, issuer, tsa or other (not used)."""
    return _KINDS.get(service_type, KIND_OTHER)


def status_word(status: str) -> str:
    """The last segment of a status URI (``granted``), for people."""
    return status.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class StatusChange:
    """One entry of a service's status history: `status` in force from `since` until the next change."""

    status: str
    since: datetime

    @property
    def approved(self) -> bool:
        return self.status in APPROVED


@dataclass(frozen=True)
class ServiceHistory:
    """A service's statuses over time, oldest first. Empty: approved throughout (a list without history)."""

    changes: tuple[StatusChange, ...] = ()

    @classmethod
    def of(cls, changes: Iterable[StatusChange]) -> ServiceHistory:
        return cls(tuple(sorted(changes, key=lambda c: c.since)))

    def status_at(self, moment: datetime) -> StatusChange | None:
        """The status in force at `moment` (None before the first one: the service was not yet listed)."""
        require_aware(moment, "moment")
        found = None
        for change in self.changes:
            if change.since <= moment:
                found = change
            else:
                break
        return found

    def approved_at(self, moment: datetime) -> bool:
        if not self.changes:
            return True
        found = self.status_at(moment)
        return found is not None and found.approved

    @property
    def current(self) -> StatusChange | None:
        return self.changes[-1] if self.changes else None

    @property
    def approved_now(self) -> bool:
        """Whether the list's latest status is an approved one (what a list says of the service today)."""
        return not self.changes or self.changes[-1].approved

    def why_not_at(self, moment: datetime) -> str | None:
        """Why the service was not approved at `moment`, in words; None when it was."""
        if self.approved_at(moment):
            return None
        found = self.status_at(moment)
        if found is None:
            first = self.changes[0]
            return f"the service was not listed before {format_datetime(first.since)}"
        return f"the service's status was '{status_word(found.status)}' from {format_datetime(found.since)}"

    def describe(self) -> str:
        if not self.changes:
            return "approved (no status history)"
        return ", ".join(f"{status_word(c.status)} since {format_datetime(c.since)}" for c in self.changes)


ALWAYS = ServiceHistory()


@dataclass(frozen=True)
class TrustService:
    """One service a trust list names: its ETSI type, name, certificates and status history.

    `issuer_did` is set for credential issuers (their keys and types are on the list's `TrustedIssuer` of that
    DID)."""

    type: str
    name: str
    provider: str
    certificates: tuple[x509.Certificate, ...] = ()
    history: ServiceHistory = ALWAYS
    issuer_did: str | None = None

    @property
    def kind(self) -> str:
        return kind_of(self.type)
