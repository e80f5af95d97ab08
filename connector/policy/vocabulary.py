"""ODRL 2.2 names as this engine understands them: operators, logical operators, actions and their hierarchy.

Names arrive compact (``eq``), prefixed (``odrl:eq``) or as full IRIs (``http://www.w3.org/ns/odrl/2/eq``);
`normalise_name` reduces all three to the compact term, which is what the DSP 2025-1 context puts on the wire.
"""

from __future__ import annotations

from typing import Literal

ODRL_NAMESPACE = "http://www.w3.org/ns/odrl/2/"
_PREFIXES = ("odrl:", ODRL_NAMESPACE, "https://www.w3.org/ns/odrl/2/")

# Comparison operators of the DSP 2025-1 ODRL profile (contract-schema.json), in schema order.
OPERATORS: frozenset[str] = frozenset(
    {
        "eq",
        "gt",
        "gteq",
        "lteq",
        "hasPart",
        "isA",
        "isAllOf",
        "isAnyOf",
        "isNoneOf",
        "isPartOf",
        "lt",
        "term-lteq",
        "neq",
    }
)
# Operators the profile lists but this node cannot evaluate; a constraint using one is a denial naming it.
UNSUPPORTED_OPERATORS: frozenset[str] = frozenset({"term-lteq"})
ORDER_OPERATORS: frozenset[str] = frozenset({"eq", "neq", "lt", "lteq", "gt", "gteq"})

LogicalOperator = Literal["and", "or", "xone", "andSequence"]
LOGICAL_OPERATORS: tuple[LogicalOperator, ...] = ("and", "or", "xone", "andSequence")

POLICY_TYPES: frozenset[str] = frozenset({"Offer", "Agreement", "Set"})

USE = "use"
TRANSFER = "transfer"

# ODRL 2.2 action hierarchy, one level deep: every common action is narrower than `use` except the two
# ownership transfers, which are narrower than `transfer`. Unknown (profile) actions count as kinds of `use`.
_NARROWER_THAN_TRANSFER: frozenset[str] = frozenset({"give", "sell"})
_TOP_LEVEL: frozenset[str] = frozenset({USE, TRANSFER})


def normalise_name(name: str) -> str:
    """The compact ODRL term for a compact, ``odrl:``-prefixed or full-IRI name; other names unchanged."""
    for prefix in _PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :]
    return name


def parent_action(action: str) -> str | None:
    """The broader action `action` is included in, or None for the two top-level actions."""
    if action in _TOP_LEVEL:
        return None
    if action in _NARROWER_THAN_TRANSFER:
        return TRANSFER
    return USE


def action_covers(rule_action: str, requested: str) -> bool:
    """Whether a rule about `rule_action` speaks about `requested`: the same action or a broader one."""
    current: str | None = requested
    while current is not None:
        if current == rule_action:
            return True
        current = parent_action(current)
    return False
