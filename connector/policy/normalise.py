"""Normal forms for comparing policies regardless of member order and spelling.

Two constraints are the same when their normal forms are equal: same left operand and operator, and the same
right operand once interpreted (list order, `"5"` vs `5`, `2026-01-01T00:00Z` vs `2026-01-01T00:00:00Z`, `eu`
vs `EU`). `and`, `or` and `xone` compare their members as multisets; `andSequence` keeps its order.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from connector.canonical import canonical_bytes
from connector.policy.model import AtomicConstraint, Constraint, Rule, thaw

ConstraintKey = tuple[Any, ...]
RuleKey = tuple[Any, ...]


def _raw_key(value: Any) -> Any:
    try:
        return canonical_bytes(thaw(value))
    except (TypeError, ValueError):  # not representable as canonical JSON (e.g. a NaN that slipped in)
        return repr(value)


def constraint_key(constraint: Constraint) -> ConstraintKey:
    if isinstance(constraint, AtomicConstraint):
        compiled = constraint.compiled
        value = compiled.key if compiled is not None else ("raw", _raw_key(constraint.right_operand))
        return ("atomic", constraint.left_operand, constraint.operator, value)
    members = [constraint_key(c) for c in constraint.constraints]
    if constraint.operator != "andSequence":
        members.sort(key=repr)
    return ("logical", constraint.operator, tuple(members))


def constraints_key(constraints: tuple[Constraint, ...]) -> tuple[Any, ...]:
    """A rule's constraint list: a conjunction, so order does not matter."""
    return tuple(sorted((constraint_key(c) for c in constraints), key=repr))


def rule_key(rule: Rule) -> RuleKey:
    duties = tuple(sorted((rule_key(d) for d in rule.duties), key=repr))
    return (rule.kind, rule.action, constraints_key(rule.constraints), duties)


def rule_multiset(rules: tuple[Rule, ...]) -> Counter[RuleKey]:
    return Counter(rule_key(r) for r in rules)


def describe_constraint(constraint: Constraint) -> str:
    return str(constraint)


def describe_rule(rule: Rule) -> str:
    """`permission 'use' [dateTime lteq 2026-12-31, count lteq 5] with duty 'delete'`."""
    text = rule.label
    if rule.constraints:
        text += " [" + ", ".join(describe_constraint(c) for c in rule.constraints) + "]"
    else:
        text += " (unconditional)"
    if rule.duties:
        nested = {"permission": "duty", "prohibition": "remedy"}.get(rule.kind, "consequence")
        text += " with " + ", ".join(f"{nested} {describe_rule(d)}" for d in rule.duties)
    return text
