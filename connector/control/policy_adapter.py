"""Adapter between the control plane's decision seam and the policy engine.

Until constraints can be evaluated, a policy with any constraint is refused as "cannot evaluate" (never
ignored), and a contract request is agreed only if its rules equal those of an offer for the dataset.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Mapping, Sequence

from connector.control.decisions import OfferedPolicy, UsageContext, Verdict, rules_of
from connector.trust.claims import VerifiedClaims


def _canonical_rules(policy: Mapping[str, Any]) -> str:
    def norm(value: Any) -> Any:
        if isinstance(value, dict):  # empty lists say nothing: {"constraint": []} is no constraint
            return {k: norm(v) for k, v in value.items() if k not in ("@type", "@id") and v != []}
        if isinstance(value, list):
            return sorted((norm(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        return value

    return json.dumps(norm(rules_of(policy)), sort_keys=True)


def _constraints(policy: Mapping[str, Any]) -> list[Any]:
    found = []
    for key in ("permission", "prohibition", "obligation"):
        for rule in policy.get(key) or []:
            found.extend(rule.get("constraint") or [])
            if rule.get("duty"):
                found.append({"duty": rule["duty"]})
    return found


def access(policy: Mapping[str, Any] | None, claims: VerifiedClaims, now: datetime,
           regions: Mapping[str, frozenset[str]]) -> Verdict:
    if policy is None or not _constraints(policy):
        return Verdict(True, ("no access restriction",))
    return Verdict(False, ("the access policy has constraints this node cannot evaluate yet",))


def contract(offers: Sequence[OfferedPolicy], requested: Mapping[str, Any], dataset_id: str | None,
             claims: VerifiedClaims, now: datetime, purpose: str | None,
             regions: Mapping[str, frozenset[str]]) -> Verdict:
    target = requested.get("target") or dataset_id
    candidates = [o for o in offers if o.dataset_id == target]
    if not candidates:
        return Verdict(False, (f"no offer exists for dataset '{target}'",))
    wanted = _canonical_rules(requested)
    reasons = []
    for offer in candidates:
        if _canonical_rules(offer.policy) != wanted:
            reasons.append(f"offer '{offer.offer_id}': the requested rules differ from the offered ones")
            continue
        if _constraints(offer.policy):
            reasons.append(f"offer '{offer.offer_id}': has constraints this node cannot evaluate yet")
            continue
        return Verdict(True, (f"matches offer '{offer.offer_id}'",), matched_offer_id=offer.offer_id)
    return Verdict(False, tuple(reasons))


def agreement(requested: Mapping[str, Any], agreement_policy: Mapping[str, Any], provider_id: str,
              consumer_id: str) -> Verdict:
    differences = []
    if requested.get("target") and agreement_policy.get("target") != requested.get("target"):
        differences.append(f"target is {agreement_policy.get('target')!r}, requested {requested.get('target')!r}")
    if agreement_policy.get("assigner") != provider_id:
        differences.append(f"assigner is {agreement_policy.get('assigner')!r}, expected {provider_id!r}")
    if agreement_policy.get("assignee") != consumer_id:
        differences.append(f"assignee is {agreement_policy.get('assignee')!r}, expected {consumer_id!r}")
    if _canonical_rules(agreement_policy) != _canonical_rules(requested):
        differences.append("the agreement's rules differ from the requested ones")
    if differences:
        return Verdict(False, tuple(differences))
    return Verdict(True, ("the agreement is what was requested",))


def transfer(agreement_policy: Mapping[str, Any], claims: VerifiedClaims, usage: UsageContext,
             regions: Mapping[str, frozenset[str]]) -> Verdict:
    if _constraints(agreement_policy):
        return Verdict(False, ("the agreement has constraints this node cannot evaluate yet",))
    return Verdict(True, ("the agreement permits use without constraints",))
