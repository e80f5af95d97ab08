"""Builders shared by the policy tests: verified claims, contexts and policy documents as plain values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connector.policy.engine import DecisionContext
from connector.trust.claims import VerifiedClaims, VerifiedCredential

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PEER = "did:web:localhost%3A8444:org-b"
PROVIDER = "did:web:localhost%3A8443:org-a"


class Build:
    """Namespace of builders (a session fixture, so hypothesis tests can use it too)."""

    now = NOW
    peer = PEER
    provider = PROVIDER

    @staticmethod
    def credential(
        kind: str,
        subject: dict[str, Any],
        issuer: str = "did:web:authority-eu",
        federation: str = "eu-dataspace",
        ident: str | None = None,
    ) -> VerifiedCredential:
        return VerifiedCredential(
            ident or f"urn:uuid:{kind}-{len(subject)}",
            ("VerifiableCredential", kind),
            issuer,
            federation,
            {"id": PEER, **subject},
            NOW,
            None,
            "0" * 64,
        )

    @classmethod
    def claims(
        cls,
        country: str | None = None,
        members: tuple[str, ...] = (),
        legal_name: str | None = None,
        extra: tuple[VerifiedCredential, ...] = (),
        participant: str = PEER,
        issuer: str = "did:web:authority-eu",
        federation: str = "eu-dataspace",
    ) -> VerifiedClaims:
        creds: list[VerifiedCredential] = []
        if country is not None:
            subject: dict[str, Any] = {"countryOfEstablishment": country}
            if legal_name:
                subject["legalName"] = legal_name
            creds.append(cls.credential("OrganizationCredential", subject, issuer, federation))
        for member in members:
            creds.append(
                cls.credential(
                    "MembershipCredential", {"memberOf": member}, issuer, federation, ident=f"urn:uuid:member-{member}"
                )
            )
        return VerifiedClaims(participant, NOW, tuple(creds) + extra)

    @classmethod
    def ctx(cls, claims: VerifiedClaims | None = None, **fields: Any) -> DecisionContext:
        fields.setdefault("now", NOW)
        return DecisionContext(claims, **fields)

    @staticmethod
    def atom(left: str, operator: str, right: Any) -> dict[str, Any]:
        return {"leftOperand": left, "operator": operator, "rightOperand": right}

    @staticmethod
    def policy(
        *constraints: dict[str, Any],
        action: str = "use",
        type_: str = "Offer",
        target: str = "urn:ds:1",
        uid: str = "urn:offer:1",
        **extra: Any,
    ) -> dict[str, Any]:
        permission: dict[str, Any] = {"action": action}
        if constraints:
            permission["constraint"] = list(constraints)
        return {"@id": uid, "@type": type_, "target": target, "permission": [permission], **extra}


@pytest.fixture(scope="session")
def build() -> type[Build]:
    return Build
