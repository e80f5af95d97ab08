"""The decision seam's vocabulary: what the node asks ("may this happen?") and the verdicts it gets.

Catalogue visibility, contract agreement, the consumer's check of an agreement, and admission of a transfer all
go through a `Decisions` with the policy, the peer's verified claims and the request; every verdict carries its
reasons and a trace so a refusal explains itself. The control plane's `PolicyDecisions` answers with this engine.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from connector.trust.claims import VerifiedClaims

# Keys of an ODRL policy that are about the deal itself; the rest (@id, @type, target, parties, profile, ...)
# is about where the policy sits.
RULE_KEYS = ("permission", "prohibition", "obligation")


@dataclass(frozen=True)
class Verdict:
    permitted: bool
    reasons: tuple[str, ...] = ()
    trace: Mapping[str, Any] | None = None
    matched_offer_id: str | None = None
    explanation: str = ""  # the trace rendered for people

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else ("permitted" if self.permitted else "refused")


@dataclass(frozen=True)
class OfferedPolicy:
    offer_id: str
    dataset_id: str
    policy: Mapping[str, Any]  # the contract policy's rules as offered


@dataclass(frozen=True)
class UsageContext:
    """What a transfer-time decision needs besides the policy and the claims."""

    now: datetime
    agreement_time: datetime
    use_count: int  # transfers started under the agreement before the one being decided
    purpose: str | None = None
    stage: str = "transfer"


class Decisions(Protocol):
    def catalogue_visible(
        self, access_policy: Mapping[str, Any] | None, claims: VerifiedClaims, now: datetime
    ) -> Verdict: ...

    def catalogue_class(self, claims: VerifiedClaims, now: datetime) -> Hashable | None:
        """A key shared by every peer that each access policy `decided_by_class` admits or hides alike (None:
        decide this peer on its own)."""
        ...

    def decided_by_class(self, access_policy: Mapping[str, Any] | None) -> bool:
        """Whether the policy's catalogue verdict depends on the peer's `catalogue_class` alone (not on the
        clock or on who the peer is)."""
        ...

    def contract(
        self,
        offers: Sequence[OfferedPolicy],
        requested: Mapping[str, Any],
        dataset_id: str | None,
        claims: VerifiedClaims,
        now: datetime,
        purpose: str | None,
    ) -> Verdict: ...

    def agreement_acceptable(
        self, requested: Mapping[str, Any], agreement: Mapping[str, Any], provider_id: str, consumer_id: str
    ) -> Verdict: ...

    def transfer(self, agreement: Mapping[str, Any], claims: VerifiedClaims, usage: UsageContext) -> Verdict: ...


def rules_of(policy: Mapping[str, Any]) -> dict[str, Any]:
    return {k: policy[k] for k in RULE_KEYS if policy.get(k)}
