"""What verification yields: the claims the policy engine may rely on.

This is the hand-over between the verifier seam (trust) and the decision seam (policy). Nothing in here is
believed unless a verifier produced it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.trust.credentials import StatusEntry

# Credential types this node issues and understands (VC data model 2.0 `type` values).
MEMBERSHIP_CREDENTIAL = "MembershipCredential"
ORGANIZATION_CREDENTIAL = "OrganizationCredential"


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

    def has_type(self, credential_type: str) -> bool:
        return credential_type in self.types


@dataclass(frozen=True)
class VerifiedClaims:
    """Everything established about one peer at one moment."""

    participant_id: str
    verified_at: datetime
    credentials: tuple[VerifiedCredential, ...] = ()
    # Free-form provenance notes of the verification (which checks ran, cache hit or miss).
    notes: Mapping[str, Any] = field(default_factory=dict)

    def of_type(self, credential_type: str) -> tuple[VerifiedCredential, ...]:
        return tuple(c for c in self.credentials if c.has_type(credential_type))

    @property
    def credential_types(self) -> frozenset[str]:
        return frozenset(t for c in self.credentials for t in c.types if t != "VerifiableCredential")
