"""Deciding whether a policy permits an action, in a given context. Pure: no clock, no I/O, no state.

Semantics
---------
Each constraint has one of three outcomes: satisfied, not satisfied, or not evaluable (unknown left operand or
operator, a right operand of the wrong type, a value missing from the context such as no verified
OrganizationCredential, a region this node has not been told about). The node never guesses, so "not evaluable"
dominates wherever it is met:

- a rule's constraint list, `and`: every member is evaluated; not evaluable if any member is, else satisfied iff all
  are. An empty logical constraint is not evaluable (its author meant something, and nothing says what).
- `or`: every member is evaluated; not evaluable if any member is, else satisfied iff at least one is.
- `xone`: every member is evaluated; not evaluable if any member is, else satisfied iff exactly one is.
- `andSequence`: members in order, stopping at the first that is not satisfied (its outcome is the result; later
  members are reported as skipped); satisfied iff all are.

A rule is *applicable* when its action covers the requested action (the same action, or a broader one in ODRL's
hierarchy: `use` covers every action except `transfer` and its narrower `give`/`sell`). The requested action is
PERMITTED exactly when all of these hold, and DENIED otherwise, naming every condition that failed:

1. if the policy names an assignee, it is the verified peer;
2. some applicable permission is satisfied;
3. no applicable permission or prohibition is not evaluable (a constraint the node cannot judge is never
   ignored, even one in an alternative permission: the node will not act on a policy it does not understand);
4. no applicable prohibition is satisfied (prohibitions win, ODRL's `prohibit` conflict strategy);
5. every duty of an applicable permission, and every obligation of the policy, is one the assignee's node
   fulfils (duties.py: delete the data received by a time, inform the provider of each use); such a duty is
   shown in the trace as owed by the assignee, and any other is a denial naming it. A prohibition's remedies
   never come due (the prohibited action is refused), so they do not block.
Rules about other actions are reported as not applicable and do not affect the decision.

Where a left operand's value comes from, and how `count` and `elapsedTime` look ahead to the first use before a
transfer, is in operands.py.
"""

from __future__ import annotations

from connector.policy.context import DecisionContext
from connector.policy.duties import duty_problem, fulfilment
from connector.policy.model import AtomicConstraint, Constraint, Policy, Rule
from connector.policy.operands import NotEvaluable, observe
from connector.policy.trace import (
    DENIED,
    NOT_APPLICABLE,
    NOT_EVALUABLE,
    NOT_SATISFIED,
    OWED,
    PERMITTED,
    SATISFIED,
    SKIPPED,
    UNFULFILLABLE,
    Decision,
    TraceNode,
    constraint_sentence,
)
from connector.policy.vocabulary import action_covers, normalise_name

FROM_IDENTITY = "verified peer identity"


def _combine(outcomes: list[str]) -> str:
    """Conjunction with not-evaluable dominating."""
    if NOT_EVALUABLE in outcomes:
        return NOT_EVALUABLE
    if NOT_SATISFIED in outcomes:
        return NOT_SATISFIED
    return SATISFIED


def _atomic(constraint: AtomicConstraint, label: str, ctx: DecisionContext) -> TraceNode:
    if constraint.problems:
        problem = constraint.problems[0]
        return TraceNode(
            "constraint",
            constraint.where,
            constraint.text,
            NOT_EVALUABLE,
            why=problem.reason,
            code=problem.code,
            label=label,
        )
    seen = observe(constraint.left_operand, ctx)
    if not seen.available:
        return TraceNode(
            "constraint",
            constraint.where,
            constraint.text,
            NOT_EVALUABLE,
            why=seen.seen,
            seen=seen.seen,
            source=seen.source,
            provenance=seen.provenance,
            code=seen.code,
            label=label,
        )
    try:
        holds = constraint.compiled.test(seen.value, ctx.regions)
    except NotEvaluable as exc:
        return TraceNode(
            "constraint",
            constraint.where,
            constraint.text,
            NOT_EVALUABLE,
            why=exc.reason,
            seen=seen.seen,
            source=seen.source,
            provenance=seen.provenance,
            code=exc.code,
            label=label,
        )
    return TraceNode(
        "constraint",
        constraint.where,
        constraint.text,
        SATISFIED if holds else NOT_SATISFIED,
        seen=seen.seen,
        source=seen.source,
        provenance=seen.provenance,
        label=label,
    )


def _skipped(constraint: Constraint, label: str) -> TraceNode:
    required = constraint.text if isinstance(constraint, AtomicConstraint) else str(constraint)
    return TraceNode(
        "skipped",
        constraint.where,
        required,
        SKIPPED,
        why="an earlier member of the andSequence was not satisfied",
        label=label,
    )


def evaluate_constraint(constraint: Constraint, label: str, ctx: DecisionContext) -> TraceNode:
    """One constraint's trace node; its `outcome` is satisfied, not satisfied or not evaluable."""
    if isinstance(constraint, AtomicConstraint):
        return _atomic(constraint, label, ctx)
    operator = constraint.operator
    members = constraint.constraints
    required = f"{operator} of {len(members)} constraint(s)"
    if not members:
        return TraceNode(
            operator,
            constraint.where,
            required,
            NOT_EVALUABLE,
            why=f"the '{operator}' constraint lists no constraints",
            code="policy.empty_logical_constraint",
            label=label,
        )
    if operator == "andSequence":
        nodes: list[TraceNode] = []
        outcome = SATISFIED
        for index, member in enumerate(members):
            node = evaluate_constraint(member, label, ctx)
            nodes.append(node)
            if node.outcome != SATISFIED:
                outcome = node.outcome
                nodes.extend(_skipped(rest, label) for rest in members[index + 1 :])
                break
        return TraceNode(operator, constraint.where, required, outcome, label=label, children=tuple(nodes))
    nodes = [evaluate_constraint(member, label, ctx) for member in members]
    outcomes = [node.outcome for node in nodes]
    if NOT_EVALUABLE in outcomes:
        outcome = NOT_EVALUABLE
    elif operator == "and":
        outcome = SATISFIED if all(o == SATISFIED for o in outcomes) else NOT_SATISFIED
    elif operator == "or":
        outcome = SATISFIED if SATISFIED in outcomes else NOT_SATISFIED
    else:  # xone
        outcome = SATISFIED if outcomes.count(SATISFIED) == 1 else NOT_SATISFIED
    return TraceNode(operator, constraint.where, required, outcome, label=label, children=tuple(nodes))


def _rule_node(rule: Rule, label: str, ctx: DecisionContext) -> TraceNode:
    nodes = [evaluate_constraint(c, label, ctx) for c in rule.constraints]
    outcome = _combine([n.outcome for n in nodes])
    duties = tuple(_duty_node(d, label) for d in rule.duties) if rule.kind == "permission" else ()
    if rule.kind == "prohibition" and rule.duties:
        remedies = ", ".join(f"'{d.action}'" for d in rule.duties)
        why = f"remedies {remedies} are not needed: a prohibited action is refused"
    else:
        why = "" if rule.constraints else "it has no constraints"
    return TraceNode(rule.kind, rule.where, label, outcome, why=why, label=label, children=tuple(nodes) + duties)


def _duty_node(duty: Rule, owner: str | None) -> TraceNode:
    required = f"{duty.kind} '{duty.action}'" + (f" of {owner}" if owner else "")
    problem = duty_problem(duty)
    if problem is None:
        return TraceNode(duty.kind, duty.where, required, OWED, why=fulfilment(duty), label=owner)
    return TraceNode(duty.kind, duty.where, required, UNFULFILLABLE, why=problem.reason, code=problem.code, label=owner)


def _party_node(assignee: str, ctx: DecisionContext) -> TraceNode:
    required = f"the peer is the assignee {assignee}"
    claims = ctx.claims
    if claims is None:
        return TraceNode(
            "party",
            None,
            required,
            NOT_EVALUABLE,
            why="the peer's identity was not verified",
            source=FROM_IDENTITY,
            code="policy.missing_value",
        )
    seen = f"the peer is {claims.participant_id}"
    provenance = "participant id established by credential verification"
    if claims.participant_id == assignee:
        return TraceNode("party", None, required, SATISFIED, seen=seen, source=FROM_IDENTITY, provenance=provenance)
    return TraceNode(
        "party",
        None,
        required,
        NOT_SATISFIED,
        why=f"the policy is assigned to {assignee}, not to {claims.participant_id}",
        seen=seen,
        source=FROM_IDENTITY,
        provenance=provenance,
    )


def _labels(rules: tuple[Rule, ...]) -> list[str]:
    if len(rules) == 1:
        return [rules[0].label]
    return [f"{rule.kind} #{index + 1} '{rule.action}'" for index, rule in enumerate(rules)]


def _layout(policy: Policy) -> tuple[list[str], list[str], str]:
    """Rule labels and the policy's description, derived once per parsed policy."""
    memo = policy.memo()
    found = memo.get("layout")
    if found is None:
        found = memo["layout"] = (_labels(policy.permissions), _labels(policy.prohibitions), policy.describe())
    return found


def _constraint_sentences(node: TraceNode, outcome: str) -> list[str]:
    return [constraint_sentence(n) for n in node.walk() if n.kind == "constraint" and n.outcome == outcome] + [
        f"{n.label} has an empty '{n.kind}' constraint, which cannot be evaluated"
        for n in node.walk()
        if n.code == "policy.empty_logical_constraint" and outcome == NOT_EVALUABLE
    ]


def _explain_unsatisfied(node: TraceNode) -> list[str]:
    """Sentences saying why a not-satisfied constraint node failed, down to the atomic constraints to blame."""
    if node.kind == "constraint":
        return [constraint_sentence(node)]
    if node.kind == "xone":
        held = [n for n in node.children if n.outcome == SATISFIED]
        shown = "; ".join(constraint_sentence(n) if n.kind == "constraint" else f"an '{n.kind}' group" for n in held)
        return [
            f"{node.label} requires exactly one of {len(node.children)} constraints (xone), but "
            f"{len(held)} are satisfied" + (f": {shown}" if shown else "")
        ]
    sentences: list[str] = []
    for child in node.children:
        if child.outcome == NOT_SATISFIED:
            sentences.extend(_explain_unsatisfied(child))
    return sentences


def evaluate(policy: Policy, ctx: DecisionContext, action: str = "use") -> Decision:
    """Whether `policy` permits `action` in `ctx`, with reasons and a trace (semantics in the module docstring)."""
    requested = normalise_name(action)
    children: list[TraceNode] = []
    blockers: list[str] = []

    if policy.assignee is not None:
        party = _party_node(policy.assignee, ctx)
        children.append(party)
        if party.outcome != SATISFIED:
            blockers.append(f"{party.required} -> {party.outcome}: {party.why}")

    satisfied: list[TraceNode] = []
    failed: list[TraceNode] = []
    permission_labels, prohibition_labels, description = _layout(policy)
    for rule, label in zip(policy.permissions, permission_labels):
        if not action_covers(rule.action, requested):
            children.append(
                TraceNode(
                    "permission",
                    rule.where,
                    label,
                    NOT_APPLICABLE,
                    why=f"it is about '{rule.action}', not '{requested}'",
                    label=label,
                )
            )
            continue
        node = _rule_node(rule, label, ctx)
        children.append(node)
        if node.outcome == SATISFIED:
            satisfied.append(node)
        else:
            failed.append(node)
        if node.outcome == NOT_EVALUABLE:
            blockers.extend(_constraint_sentences(node, NOT_EVALUABLE))
        for duty in rule.duties:
            if duty_problem(duty) is not None:
                blockers.append(f"{label} imposes the duty '{duty.action}', which this node cannot fulfil")
    if not satisfied:
        if not failed:
            blockers.append(f"the policy has no permission that covers '{requested}'")
        for node in failed:
            if node.outcome == NOT_SATISFIED:
                blockers.extend(_explain_unsatisfied(node) or [f"{node.required} is not satisfied"])

    for rule, label in zip(policy.prohibitions, prohibition_labels):
        if not action_covers(rule.action, requested):
            children.append(
                TraceNode(
                    "prohibition",
                    rule.where,
                    label,
                    NOT_APPLICABLE,
                    why=f"it is about '{rule.action}', not '{requested}'",
                    label=label,
                )
            )
            continue
        node = _rule_node(rule, label, ctx)
        children.append(node)
        if node.outcome == NOT_EVALUABLE:
            blockers.extend(_constraint_sentences(node, NOT_EVALUABLE))
        elif node.outcome == SATISFIED:
            detail = "; ".join(_constraint_sentences(node, SATISFIED)) or "unconditionally"
            blockers.append(f"{label} applies: {detail}")

    for rule in policy.obligations:
        node = _duty_node(rule, None)
        children.append(node)
        if node.outcome == UNFULFILLABLE:
            blockers.append(f"the policy imposes the obligation '{rule.action}', which this node cannot fulfil")

    permitted = not blockers and bool(satisfied)
    if not permitted and not blockers:  # defensive: every denial path above names a reason
        blockers.append(f"no permission for '{requested}' is satisfied")
    if permitted:
        chosen = satisfied[0]
        count = len(chosen.children)
        how = f"all {count} constraint(s) are satisfied" if count else "it has no constraints"
        reasons: tuple[str, ...] = (f"{chosen.required} permits '{requested}': {how}, and no prohibition applies",)
    else:
        reasons = tuple(dict.fromkeys(blockers))  # in order, without repeats
    root = TraceNode(
        "policy",
        None,
        f"{description}: '{requested}' at the {ctx.stage} stage",
        PERMITTED if permitted else DENIED,
        why=reasons[0],
        children=tuple(children),
    )
    return Decision(permitted, reasons, root)
