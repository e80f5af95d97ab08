"""Logical constraints (and, or, xone, andSequence) under three-valued outcomes, and unknowns always denying."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connector.policy.engine import evaluate, parse_policy
from connector.policy.trace import NOT_EVALUABLE, NOT_SATISFIED, SATISFIED, SKIPPED

T, F, U = SATISFIED, NOT_SATISFIED, NOT_EVALUABLE
# Leaves whose outcome is known in a context where the consumer declared the purpose "yes".
LEAVES = {
    T: {"leftOperand": "purpose", "operator": "eq", "rightOperand": "yes"},
    F: {"leftOperand": "purpose", "operator": "eq", "rightOperand": "no"},
    U: {"leftOperand": "partner", "operator": "eq", "rightOperand": "gold"},
}
OPERATORS = ["and", "or", "xone", "andSequence"]


def reference(tree: Any) -> str:
    if isinstance(tree, str):
        return tree
    operator, members = tree
    outcomes = [reference(m) for m in members] if operator != "andSequence" else []
    if not members:
        return U
    if operator == "andSequence":
        for member in members:
            result = reference(member)
            if result != T:
                return result
        return T
    if U in outcomes:
        return U
    if operator == "and":
        return T if all(o == T for o in outcomes) else F
    if operator == "or":
        return T if T in outcomes else F
    return T if outcomes.count(T) == 1 else F  # xone


def to_json(tree: Any) -> dict[str, Any]:
    if isinstance(tree, str):
        return dict(LEAVES[tree])
    operator, members = tree
    return {operator: [to_json(m) for m in members]}


trees = st.recursive(
    st.sampled_from([T, F, U]),
    lambda inner: st.tuples(st.sampled_from(OPERATORS), st.lists(inner, max_size=4)),
    max_leaves=12,
)
known_trees = st.recursive(
    st.sampled_from([T, F]),
    lambda inner: st.tuples(st.sampled_from(OPERATORS), st.lists(inner, min_size=1, max_size=4)),
    max_leaves=12,
)


def outcome_of(build: Any, tree: Any) -> str:
    decision = evaluate(parse_policy(build.policy(to_json(tree))), build.ctx(None, purpose="yes"))
    permission = next(n for n in decision.trace.children if n.kind == "permission")
    assert decision.permitted == (permission.outcome == T)
    return permission.children[0].outcome


@given(trees)
def test_logical_constraints_follow_the_reference_three_valued_semantics(build: Any, tree: Any) -> None:
    assert outcome_of(build, tree) == reference(tree)


@given(st.sampled_from(["and", "or", "xone"]), st.lists(trees, min_size=1, max_size=4), st.randoms())
def test_and_or_xone_do_not_depend_on_member_order(build: Any, operator: str, members: list[Any], rnd: Any) -> None:
    shuffled = list(members)
    rnd.shuffle(shuffled)
    assert outcome_of(build, (operator, members)) == outcome_of(build, (operator, shuffled))


@given(st.lists(known_trees, min_size=1, max_size=4))
def test_and_sequence_agrees_with_and_when_everything_is_evaluable(build: Any, members: list[Any]) -> None:
    assert outcome_of(build, ("andSequence", members)) == outcome_of(build, ("and", members))


@given(st.sampled_from(OPERATORS), trees)
def test_a_logical_constraint_of_one_member_is_that_member(build: Any, operator: str, member: Any) -> None:
    assert outcome_of(build, (operator, [member])) == outcome_of(build, member)


@given(known_trees)
def test_xone_of_a_constraint_twice_is_never_satisfied(build: Any, member: Any) -> None:
    assert outcome_of(build, ("xone", [member, member])) == F
    assert outcome_of(build, ("or", [member, member])) == outcome_of(build, member)


@given(st.sampled_from(OPERATORS))
def test_empty_logical_constraints_are_not_evaluable(build: Any, operator: str) -> None:
    assert outcome_of(build, (operator, [])) == U


def test_and_sequence_stops_at_the_first_unsatisfied_member_and_reports_the_rest_skipped(build: Any) -> None:
    decision = evaluate(
        parse_policy(build.policy(to_json(("andSequence", [T, F, U, T])))), build.ctx(None, purpose="yes")
    )
    sequence = decision.trace.children[0].children[0]
    assert [n.outcome for n in sequence.children] == [T, F, SKIPPED, SKIPPED]
    assert sequence.outcome == F
    assert not any("partner" in reason for reason in decision.reasons)  # never evaluated, so never blamed


def test_and_evaluates_every_member_and_names_each_failure(build: Any) -> None:
    decision = evaluate(parse_policy(build.policy(to_json(("and", [F, U])))), build.ctx(None, purpose="yes"))
    assert not decision.permitted
    assert any("partner eq gold" in reason and "not evaluable" in reason for reason in decision.reasons)


# -- unknown operands always deny -----------------------------------------------------------------------------------

rules = st.lists(trees, max_size=3)


@given(rules, rules, st.integers(0, 5), st.booleans())
def test_an_applicable_unknown_constraint_always_denies(
    build: Any, permissions: list[Any], prohibitions: list[Any], position: int, in_prohibition: bool
) -> None:
    permission_rules = [{"action": "use", "constraint": [to_json(t)]} for t in permissions]
    prohibition_rules = [{"action": "use", "constraint": [to_json(t)]} for t in prohibitions]
    unknown = {"action": "use", "constraint": [to_json(("or", [T, U]))]}  # an alternative that holds is no excuse
    target = prohibition_rules if in_prohibition else permission_rules
    target.insert(position % (len(target) + 1), unknown)
    permission_rules.append({"action": "use"})  # an unconditional permission that would otherwise permit
    doc = {"@id": "urn:p", "@type": "Offer", "target": "urn:t", "permission": permission_rules}
    if prohibition_rules:
        doc["prohibition"] = prohibition_rules
    decision = evaluate(parse_policy(doc), build.ctx(None, purpose="yes"))
    assert not decision.permitted
    assert any("partner eq gold" in reason for reason in decision.reasons)


def test_unknown_constraints_on_other_actions_do_not_matter(build: Any) -> None:
    doc = {
        "@id": "urn:p",
        "@type": "Offer",
        "target": "urn:t",
        "permission": [{"action": "use"}, {"action": "transfer", "constraint": [LEAVES[U]]}],
        "prohibition": [{"action": "distribute", "constraint": [LEAVES[U]]}],
    }
    decision = evaluate(parse_policy(doc), build.ctx(None))
    assert decision.permitted
    assert [n.outcome for n in decision.trace.children] == [T, "not applicable", "not applicable"]
