"""The control plane's answers at the decision seam (connector.policy.seam), made by the ODRL engine.

Turns what the control plane holds (offers as stored, agreements as exchanged, claims as verified, usage as
counted) into decision contexts, and the engine's decisions into verdicts with their trace and its rendering.
Parsed policies are cached by the canonical form of their JSON, so a catalogue of thousands of offers is parsed
once, not on every request. Policies are read with the configured aliases of the parties (`PartyNames`): an
assigner or assignee named by a data-space identifier counts as the participant it stands for.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

from connector.errors import ConnectorError
from connector.policy.parties import PartyNames
from connector.policy.seam import Decisions, OfferedPolicy, UsageContext, Verdict, rules_of
from connector.recent import Recent
from connector.trust.claims import VerifiedClaims

if TYPE_CHECKING:
    from connector.policy import engine as odrl

__all__ = ["Decisions", "OfferedPolicy", "PolicyDecisions", "UsageContext", "Verdict", "rules_of"]


@functools.cache
def _engine() -> ModuleType:
    """The ODRL engine (`connector.policy.engine`), loaded with the first policy parsed or decided."""
    from connector.policy import engine

    return engine


# Policies parsed lately, by their JSON text: a catalogue's access policies (one per offer, 10,000 and more), the offer
# and the request of every negotiation. Requests come from peers: a text over 64 Ki characters is parsed each time.
_CACHE: Recent[str, odrl.Policy | ConnectorError] = Recent(
    50_000, 16 * 1024 * 1024, lambda text, _: len(text), largest=64 * 1024
)


def parsed(policy: Mapping[str, Any] | odrl.Policy) -> odrl.Policy:
    """The parsed policy (cached); raises ConnectorError for an invalid one."""
    if not isinstance(policy, Mapping):  # parsed already
        if not isinstance(policy, _engine().Policy):
            raise TypeError(f"a policy is a JSON object or a parsed Policy, not {type(policy).__name__}")
        return policy
    key = json.dumps(policy, sort_keys=True, separators=(",", ":"), default=str)
    found = _CACHE.get(key)
    if found is None:
        try:
            found = _engine().parse_policy(dict(policy))
        except ConnectorError as exc:
            found = exc
        _CACHE[key] = found
    if isinstance(found, ConnectorError):
        raise found
    return found


def _verdict(decision: odrl.Decision, matched: str | None = None) -> Verdict:
    return Verdict(
        decision.permitted,
        tuple(decision.reasons),
        decision.trace.to_json(),
        matched_offer_id=matched or decision.matched_offer,
        explanation=_engine().render_trace(decision.trace),
    )


NO_ALIASES = PartyNames()


def access_verdict(
    policy: Mapping[str, Any] | odrl.Policy | None,
    claims: VerifiedClaims,
    now: datetime,
    regions: Mapping[str, frozenset[str]],
    parties: odrl.PartyNames = NO_ALIASES,
) -> Verdict:
    if isinstance(policy, Mapping):
        policy = parties.resolve(policy)
    if policy is None:
        return Verdict(True, ("the offer has no access policy: visible to every authenticated peer",))
    ctx = _engine().DecisionContext(claims=claims, now=now, stage="catalog", regions=regions)
    try:
        decision = _engine().decide_access(parsed(policy), ctx)
    except ConnectorError as exc:
        return Verdict(False, (f"the access policy is invalid: {exc.reason}",))
    # Catalogue filtering is the hot path: keep the rendering for when someone asks.
    return Verdict(decision.permitted, tuple(decision.reasons), None)


def _offer_policy(offer: OfferedPolicy) -> dict[str, Any]:
    body = {k: v for k, v in offer.policy.items() if k not in ("@context", "target", "@id", "@type")}
    return {"@id": offer.offer_id, "@type": "Offer", "target": offer.dataset_id, **body}


def contract_verdict(
    offers: Sequence[OfferedPolicy],
    requested: Mapping[str, Any],
    dataset_id: str | None,
    claims: VerifiedClaims,
    now: datetime,
    purpose: str | None,
    regions: Mapping[str, frozenset[str]],
    parties: odrl.PartyNames = NO_ALIASES,
) -> Verdict:
    request = dict(parties.resolve(requested))
    if not request.get("target") and dataset_id:
        request["target"] = dataset_id
    request.setdefault("@type", "Offer")
    ctx = _engine().DecisionContext(claims=claims, now=now, purpose=purpose, stage="negotiation", regions=regions)
    candidates = [_parsed_or_raw(parties.resolve(_offer_policy(o))) for o in offers]
    decision = _engine().decide_contract(candidates, _parsed_or_raw(request), ctx, dataset_id=dataset_id)
    return _verdict(decision)


def _parsed_or_raw(policy: Mapping[str, Any]) -> odrl.Policy | Mapping[str, Any]:
    """The cached parse of a valid policy; an invalid one as it came, so the decision words its refusal itself.
    Every negotiation of an offer brings the same offer (and mostly the same request) again."""
    try:
        return parsed(policy)
    except ConnectorError:
        return policy


def agreement_verdict(
    requested: Mapping[str, Any],
    agreement_policy: Mapping[str, Any],
    provider_id: str,
    consumer_id: str,
    parties: odrl.PartyNames = NO_ALIASES,
) -> Verdict:
    request = dict(parties.resolve(requested))
    request.setdefault("@type", "Offer")
    agreement = dict(parties.resolve(agreement_policy))
    differences = _engine().compare_agreement(_parsed_or_raw(request), agreement, provider_id, consumer_id)
    if differences:
        return Verdict(False, tuple(differences))
    return Verdict(True, ("the agreement is exactly what was requested (target, parties and rules)",))


def transfer_verdict(
    agreement_policy: Mapping[str, Any],
    claims: VerifiedClaims,
    usage: UsageContext,
    regions: Mapping[str, frozenset[str]],
    parties: odrl.PartyNames = NO_ALIASES,
) -> Verdict:
    agreement_policy = parties.resolve(agreement_policy)
    ctx = _engine().DecisionContext(
        claims=claims,
        now=usage.now,
        purpose=usage.purpose,
        use_count=usage.use_count,
        agreement_time=usage.agreement_time,
        stage="transfer",
        regions=regions,
    )
    try:
        policy = parsed(agreement_policy)
    except ConnectorError as exc:
        return Verdict(False, (f"the agreement is invalid: {exc.reason}",))
    return _verdict(_engine().decide_transfer(policy, ctx))


@dataclass
class PolicyDecisions:
    """Decisions made by the ODRL engine, with configured region sets and aliases of the parties."""

    regions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    parties: odrl.PartyNames = NO_ALIASES

    def catalogue_visible(
        self, access_policy: Mapping[str, Any] | None, claims: VerifiedClaims, now: datetime
    ) -> Verdict:
        return access_verdict(access_policy, claims, now, self.regions, self.parties)

    def catalogue_class(self, claims: VerifiedClaims, now: datetime) -> Hashable | None:
        from connector.policy.classes import claims_class

        return claims_class(_engine().DecisionContext(claims=claims, now=now, stage="catalog", regions=self.regions))

    def decided_by_class(self, access_policy: Mapping[str, Any] | None) -> bool:
        from connector.policy.classes import decided_by_class

        if access_policy is None:
            return True
        try:
            return decided_by_class(parsed(self.parties.resolve(access_policy)))
        except ConnectorError:
            return True  # an invalid policy hides its offer from everyone

    def contract(
        self,
        offers: Sequence[OfferedPolicy],
        requested: Mapping[str, Any],
        dataset_id: str | None,
        claims: VerifiedClaims,
        now: datetime,
        purpose: str | None,
    ) -> Verdict:
        return contract_verdict(offers, requested, dataset_id, claims, now, purpose, self.regions, self.parties)

    def agreement_acceptable(
        self, requested: Mapping[str, Any], agreement: Mapping[str, Any], provider_id: str, consumer_id: str
    ) -> Verdict:
        return agreement_verdict(requested, agreement, provider_id, consumer_id, self.parties)

    def transfer(self, agreement: Mapping[str, Any], claims: VerifiedClaims, usage: UsageContext) -> Verdict:
        return transfer_verdict(agreement, claims, usage, self.regions, self.parties)
