"""ODRL 2.2 names as this engine understands them: operators, logical operators, actions and their hierarchy,
and the names of the left operands it evaluates.

Names arrive compact (``eq``), prefixed (``odrl:eq``) or as full IRIs (``http://www.w3.org/ns/odrl/2/eq``);
`normalise_name` reduces all three to the compact term, which is what the DSP 2025-1 context defines for operators,
actions and policy members.

Left operands are different: the DSP 2025-1 context defines none, so a bare ``purpose`` expands to an IRI
relative to the document (it means nothing to a JSON-LD reader). On the wire this node therefore names them
``odrl:purpose``, ``odrl:count``, ``odrl:dateTime``, ``odrl:elapsedTime`` (ODRL's own left operands, through the
``odrl`` prefix the context declares) and, for what ODRL has no term for, absolute IRIs in this project's
namespace (``https://w3id.org/connector/policy/membership``, ``.../credentialType``,
``.../countryOfEstablishment``). It reads those spellings, ODRL's full IRIs, and the bare names (its own
configuration and older peers); an ODRL-prefixed name ODRL does not define stays unknown.
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


# Left operands: those ODRL 2.2 defines, and this project's own (absolute IRIs in its namespace on the wire).
POLICY_NAMESPACE = "https://w3id.org/connector/policy/"
ODRL_LEFT_OPERANDS: frozenset[str] = frozenset({"purpose", "count", "dateTime", "elapsedTime"})
OWN_LEFT_OPERANDS: frozenset[str] = frozenset(
    {"membership", "credentialType", "countryOfEstablishment", "registeredIn", "legalEntity"}
)


def left_operand_name(name: str) -> str:
    """The engine's name for a left operand as a peer spells it (bare, ``odrl:`` or ODRL IRI for ODRL's own, this
    project's IRI for the rest); any other spelling is returned unchanged, and stays unknown."""
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            local = name[len(prefix) :]
            return local if local in ODRL_LEFT_OPERANDS else name
    if name.startswith(POLICY_NAMESPACE):
        local = name[len(POLICY_NAMESPACE) :]
        return local if local in OWN_LEFT_OPERANDS else name
    return name


def wire_left_operand(name: str) -> str:
    """How this node writes a left operand it knows, so that it survives JSON-LD expansion."""
    if name in ODRL_LEFT_OPERANDS:
        return "odrl:" + name
    if name in OWN_LEFT_OPERANDS:
        return POLICY_NAMESPACE + name
    return name


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
