"""ODRL constraints as an operator reads them: the names an operator writes (`purpose eq research`), whatever
prefixes or IRIs a peer or this node used on the wire. Pure; shared by the web console and the command line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.policy.vocabulary import left_operand_name, normalise_name


def constraint_words(constraint: Any) -> str:
    if not isinstance(constraint, Mapping):
        return str(constraint)
    for op in ("and", "or", "xone", "andSequence"):
        if op in constraint:
            parts = [constraint_words(c) for c in constraint.get(op) or []]
            return "(" + f" {op} ".join(parts) + ")"
    right = constraint.get("rightOperand")
    if isinstance(right, list):
        right = ", ".join(str(r) for r in right)
    elif isinstance(right, Mapping):
        right = right.get("@value", right)
    # Peers and this node write ODRL terms prefixed or as IRIs on the wire: show the names an operator writes.
    left = constraint.get("leftOperand")
    operator = constraint.get("operator")
    if isinstance(left, str):
        left = left_operand_name(left)
    if isinstance(operator, str):
        operator = normalise_name(operator)
    return f"{left} {operator} {right}"
