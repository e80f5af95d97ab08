"""The decision seam: every policy question the node asks goes through one of these functions.

- `decide_access`: may this peer see an offer in the catalogue (its access policy, stage "catalog")?
- `decide_contract`: agree to a requested policy, or refuse (stage "negotiation")?
- `decide_transfer`: may data still be pulled under an agreement, now (stage "transfer")?
- `compare_agreement`: on the consumer side, is the agreement what was asked for?

Policies may be given parsed (`Policy`, the fast path: parse once, decide often) or as JSON. A malformed JSON
policy is a refusal that says what is wrong, never an exception.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from connector.canonical import json_sha256
from connector.errors import ConnectorError
from connector.policy.context import DecisionContext
from connector.policy.evaluate import evaluate
from connector.policy.model import AtomicConstraint, Policy, Rule, thaw
from connector.policy.narrowing import narrowing, strictness_gaps
from connector.policy.normalise import describe_rule, rule_key
from connector.policy.parse import parse_policy
from connector.policy.trace import DENIED, MATCHED, NOT_MATCHED, PERMITTED, Decision, TraceNode

__all__ = [
    "compare_agreement",
    "decide_access",
    "decide_contract",
    "decide_transfer",
    "declared_purpose",
    "narrowing",
    "policy_sha256",
]

PolicyLike = Policy | Mapping[str, Any]


def _as_policy(value: PolicyLike) -> Policy:
    return value if isinstance(value, Policy) else parse_policy(value)


def _refusal(kind: str, required: str, reason: str) -> Decision:
    root = TraceNode(kind, None, required, DENIED, why=reason)
    return Decision(False, (reason,), root)


def decide_access(offer_policy: PolicyLike, ctx: DecisionContext, action: str = "use") -> Decision:
    """Whether the peer may see an offer in the catalogue: `offer_policy` is the access policy that governs the
    offer's visibility, evaluated at stage "catalog". No purpose is declared when browsing, so an access policy
    that constrains `purpose` hides the offer (that belongs in the contract policy)."""
    try:
        policy = _as_policy(offer_policy)
    except ConnectorError as exc:
        return _refusal("policy", "a valid access policy", f"the access policy is invalid: {exc.problem}")
    return evaluate(policy, ctx.at_stage("catalog"), action)


def decide_transfer(agreement_policy: PolicyLike, ctx: DecisionContext, action: str = "use") -> Decision:
    """Whether a new transfer may start under an agreement now: evaluated at stage "transfer" with the current
    clock, the usage record (`ctx.use_count` transfers before this one) and freshly verified claims (a revoked
    credential is simply absent from them). When `ctx` does not say, the agreement's timestamp is the agreement
    time and the purpose is the one the agreement records (`declared_purpose`)."""
    try:
        policy = _as_policy(agreement_policy)
    except ConnectorError as exc:
        return _refusal("policy", "a valid agreement", f"the agreement is invalid: {exc.problem}")
    if policy.type != "Agreement":
        return _refusal("policy", "an Agreement", f"transfers run under an Agreement, not an {policy.type}")
    ctx = _with_declared_purpose(ctx.at_stage("transfer"), policy)
    if ctx.agreement_time is None and policy.timestamp is not None and "elapsedTime" in policy.left_operands:
        ctx = dataclasses.replace(ctx, agreement_time=policy.timestamp)
    return evaluate(policy, ctx, action)


def _with_declared_purpose(ctx: DecisionContext, policy: Policy) -> DecisionContext:
    """The context with the purpose the consumer declared in the policy, unless the caller gave one."""
    if ctx.purpose is not None or "purpose" not in policy.left_operands:
        return ctx
    memo = policy.memo()
    if "declared_purpose" not in memo:
        memo["declared_purpose"] = declared_purpose(policy)
    purpose = memo["declared_purpose"]
    return ctx if purpose is None else dataclasses.replace(ctx, purpose=purpose)


def decide_contract(
    offers_for_dataset: Sequence[PolicyLike],
    requested_policy: PolicyLike,
    ctx: DecisionContext,
    *,
    dataset_id: str | None = None,
    provider_id: str | None = None,
    action: str = "use",
) -> Decision:
    """Agree to `requested_policy` (an initial request or a counter-offer) or refuse.

    Agreed only if the request is at least as strict as one of the provider's offers for the dataset (see
    narrowing.strictness_gaps) AND, evaluated at stage "negotiation", it permits `action` for this peer now.
    Offers listed in a catalogue carry no target (it is the dataset): pass `dataset_id` for them. When given,
    `provider_id` must match an assigner the request names. Unless `ctx.purpose` is set, the purpose is the
    one the request declares (`declared_purpose`). The decision names the matched offer (`matched_offer`) or,
    for each offer, why the request does not fit it."""
    required = "a request at least as strict as an offer for this dataset, permitted for this peer"
    try:
        request = _as_policy(requested_policy)
    except ConnectorError as exc:
        return _refusal("contract", required, f"the requested policy is invalid: {exc.problem}")
    if not offers_for_dataset:
        return _refusal("contract", required, "there are no offers for this dataset")
    ctx = ctx.at_stage("negotiation")

    parsed: list[tuple[str, Policy | None, str | None]] = []
    for index, candidate in enumerate(offers_for_dataset):
        try:
            policy = _as_policy(candidate)
            parsed.append((policy.uid or f"offer #{index + 1}", policy, None))
        except ConnectorError as exc:
            parsed.append((f"offer #{index + 1}", None, str(exc.problem)))
    # The offer the request says it answers is tried first; the others still count (a counter-offer may differ).
    parsed.sort(key=lambda item: item[1] is None or item[1].uid != request.uid)

    offer_nodes: list[TraceNode] = []
    mismatches: list[str] = []
    matched: str | None = None
    for name, offer, invalid in parsed:
        if offer is None:
            gaps = [f"the offer is invalid: {invalid}"]
        else:
            gaps = strictness_gaps(offer, request, offer.target or dataset_id, ctx.regions)
            if provider_id is not None and request.assigner is not None and request.assigner != provider_id:
                gaps.append(f"the request names assigner {request.assigner}, but this provider is {provider_id}")
        if not gaps:
            offer_nodes.append(
                TraceNode(
                    "offer", None, f"offer {name}", MATCHED, why="the request is at least as strict as this offer"
                )
            )
            matched = name
            break
        differences = tuple(TraceNode("difference", None, gap, NOT_MATCHED) for gap in gaps)
        offer_nodes.append(
            TraceNode(
                "offer", None, f"offer {name}", NOT_MATCHED, why=f"{len(gaps)} difference(s)", children=differences
            )
        )
        mismatches.extend(f"offer {name}: {gap}" for gap in gaps)

    if matched is None:
        reasons = ("the request is not at least as strict as any offer for this dataset", *mismatches)
        root = TraceNode("contract", None, required, DENIED, why=reasons[0], children=tuple(offer_nodes))
        return Decision(False, reasons, root)

    name = matched
    decision = evaluate(request, _with_declared_purpose(ctx, request), action)
    if decision.permitted:
        reasons = (f"the request is at least as strict as offer {name}", *decision.reasons)
    else:
        reasons = (*decision.reasons, f"the request is at least as strict as offer {name}")
    root = TraceNode(
        "contract",
        None,
        required,
        PERMITTED if decision.permitted else DENIED,
        why=reasons[0],
        children=(*offer_nodes, decision.trace),
    )
    return Decision(decision.permitted, reasons, root, matched_offer=name)


def _rule_differences(requested: tuple[Rule, ...], agreed: tuple[Rule, ...]) -> list[str]:
    wanted = Counter(rule_key(r) for r in requested)
    got = Counter(rule_key(r) for r in agreed)
    described = {rule_key(r): describe_rule(r) for r in requested + agreed}
    out = [f"{described[key]} was requested but is not in the agreement" for key in (wanted - got).elements()]
    out += [f"the agreement adds {described[key]}, which was not requested" for key in (got - wanted).elements()]
    return out


def compare_agreement(
    requested_offer: PolicyLike, agreement: PolicyLike, expected_assigner: str, expected_assignee: str
) -> list[str]:
    """Differences between the agreement a provider sent and what the consumer requested, in words; empty when
    the agreement is exactly that (target, parties, and rules compared order-insensitively in normal form)."""
    try:
        request = _as_policy(requested_offer)
    except ConnectorError as exc:
        return [f"the requested offer is invalid: {exc.problem}"]
    try:
        agreed = _as_policy(agreement)
    except ConnectorError as exc:
        return [f"the agreement is invalid: {exc.problem}"]
    differences: list[str] = []
    if agreed.type != "Agreement":
        differences.append(f"the agreement is of type {agreed.type}, not Agreement")
    if not agreed.uid:
        differences.append("the agreement has no @id")
    if agreed.target != request.target:
        differences.append(f"the agreement is for target {agreed.target}, but {request.target} was requested")
    if agreed.assigner != expected_assigner:
        differences.append(f"the agreement's assigner is {agreed.assigner}, expected {expected_assigner}")
    if agreed.assignee != expected_assignee:
        differences.append(f"the agreement's assignee is {agreed.assignee}, expected {expected_assignee}")
    differences += _rule_differences(request.permissions, agreed.permissions)
    differences += _rule_differences(request.prohibitions, agreed.prohibitions)
    differences += _rule_differences(request.obligations, agreed.obligations)
    return differences


def policy_sha256(policy_json: PolicyLike) -> str:
    """Hex SHA-256 of a policy's RFC 8785 canonical JSON (of the document it was parsed from, for a Policy).
    Raises ConnectorError(policy.not_canonical) for JSON that has no canonical form."""
    document = policy_json.raw if isinstance(policy_json, Policy) else policy_json
    try:
        return json_sha256(document)
    except (TypeError, ValueError) as exc:  # not I-JSON: NaN, integers beyond 2**53, non-string keys
        raise ConnectorError("policy.not_canonical", f"The policy has no RFC 8785 canonical form: {exc}.") from exc


def declared_purpose(policy: PolicyLike) -> str | None:
    """The purpose a request pins down, for `DecisionContext.purpose`: the single value of its top-level
    `purpose eq X` (or one-element isAnyOf/isPartOf) permission constraints; None if it pins none or several."""
    try:
        parsed = _as_policy(policy)
    except ConnectorError:
        return None
    found: set[str] = set()
    for permission in parsed.permissions:
        for constraint in permission.constraints:
            if not isinstance(constraint, AtomicConstraint) or constraint.left_operand != "purpose":
                continue
            value = thaw(constraint.right_operand)
            if constraint.operator == "eq" and isinstance(value, str):
                found.add(value)
            elif constraint.operator in ("isAnyOf", "isPartOf"):
                values = value if isinstance(value, list) else [value]
                if len(values) == 1 and isinstance(values[0], str):
                    found.add(values[0])
    return found.pop() if len(found) == 1 else None
