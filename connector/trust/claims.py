"""What verification yields: the claims the policy engine may rely on.

This is the hand-over between the verifier seam (trust) and the decision seam (policy). Nothing in here is
believed unless a verifier produced it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.trust import vocab

# Credential types this node issues and understands (VC data model 2.0 `type` values).
MEMBERSHIP_CREDENTIAL = "MembershipCredential"
ORGANIZATION_CREDENTIAL = "OrganizationCredential"


@dataclass(frozen=True)
class StatusEntry:
    """A status entry (BitstringStatusListEntry or StatusList2021Entry): where to look up a credential's status."""

    purpose: str
    index: int
    list_url: str
    id: str | None = None
    type: str = vocab.BITSTRING_STATUS_LIST_ENTRY

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id or f"{self.list_url}#{self.index}",
            "type": self.type,
            "statusPurpose": self.purpose,
            "statusListIndex": str(self.index),
            "statusListCredential": self.list_url,
        }


@dataclass(frozen=True)
class VerifiedCredential:
    """One credential whose signature, issuer, validity, subject and status all checked out."""

    id: str
    types: tuple[str, ...]
    issuer: str  # the issuer's DID
    federation: str  # name of the trust list that recognised the issuer for this type
    subject: Mapping[str, Any]  # credentialSubject claims, including "id"
    valid_from: datetime
    valid_until: datetime | None
    sha256: str  # hex SHA-256 of the credential exactly as presented (the compact JWT)
    # Where its status is published: what re-checking it later needs, without asking the holder again.
    status: StatusEntry | None = None
    federation_id: str = ""  # id of the trust list that recognised the issuer (what recognitions are about)

    def has_type(self, credential_type: str) -> bool:
        return credential_type in self.types


@dataclass(frozen=True)
class RecognitionStep:
    """One recognition statement applied: federation `by` accepts a credential of federation `of` as its own."""

    statement: str  # the statement's id
    by: str  # the recognising federation's name
    by_id: str
    of: str  # the recognised federation's name
    issuer: str  # the recognising federation's issuer, who signed the statement
    accepted: str  # "<their type> as <our type>"
    valid_until: datetime
    status: StatusEntry | None = None

    def describe(self) -> str:
        return f"{self.by} recognises {self.of}'s {self.accepted} (statement {self.statement})"


@dataclass(frozen=True)
class RecognisedCredential:
    """A peer's credential of another federation, as this node's federation accepts it through signed recognition
    statements: `credential` is the equivalent in this federation's terms (its types, its claims)."""

    credential: VerifiedCredential
    original: VerifiedCredential
    path: tuple[RecognitionStep, ...]  # from the original's federation to this node's
    purposes: frozenset[str] | None  # the purposes it is accepted for (None: any)

    def usable_for(self, purpose: str | None) -> bool:
        return self.purposes is None or (purpose is not None and purpose in self.purposes)

    def describe(self) -> str:
        original = self.original
        kinds = ", ".join(t for t in original.types if t != "VerifiableCredential")
        steps = "; then ".join(step.describe() for step in self.path)
        purposes = "any purpose" if self.purposes is None else "the purposes " + ", ".join(sorted(self.purposes))
        until = min(step.valid_until for step in self.path)
        return (
            f"recognised: {kinds} {original.id} issued by {original.issuer} in federation '{original.federation}'; "
            f"{steps}; for {purposes}, until {until.isoformat()}"
        )


@dataclass(frozen=True)
class VerifiedClaims:
    """Everything established about one peer at one moment."""

    participant_id: str
    verified_at: datetime
    credentials: tuple[VerifiedCredential, ...] = ()
    # Free-form provenance notes of the verification (which checks ran, cache hit or miss).
    notes: Mapping[str, Any] = field(default_factory=dict)
    # The peer's credentials of other federations that this node's federation recognises as its own.
    recognised: tuple[RecognisedCredential, ...] = ()

    def of_type(self, credential_type: str) -> tuple[VerifiedCredential, ...]:
        return tuple(c for c in self.credentials if c.has_type(credential_type))

    def usable(
        self, credential_type: str | None, purpose: str | None
    ) -> tuple[tuple[VerifiedCredential, RecognisedCredential | None], ...]:
        """The credentials a decision for `purpose` may rely on (of `credential_type`, or all): the verified ones,
        then those recognised for that purpose, each with the recognition it came through."""
        own: list[tuple[VerifiedCredential, RecognisedCredential | None]] = [
            (c, None) for c in self.credentials if credential_type is None or c.has_type(credential_type)
        ]
        return tuple(own) + tuple(
            (r.credential, r)
            for r in self.recognised
            if r.usable_for(purpose) and (credential_type is None or r.credential.has_type(credential_type))
        )

    @property
    def credential_types(self) -> frozenset[str]:
        return frozenset(t for c in self.credentials for t in c.types if t != "VerifiableCredential")
