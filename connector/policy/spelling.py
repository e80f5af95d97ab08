"""Policies as this node puts them on the wire, and the purpose a consumer declares in its request.

`wire_policy` writes the left operands of a policy this node authored (its offers) so that they keep their
meaning through JSON-LD expansion (`vocabulary.wire_left_operand`); the document is otherwise unchanged. Policies
that come from peers are never respelled: what a peer offered or requested goes back as it was written.

`declare_purpose` is how a consumer states its purpose: as ODRL does, by a constraint ``odrl:purpose eq X`` on
each permission of the policy it requests (which narrows the offer, so it is always at least as strict), rather
than a message member the DSP context does not define and expansion would drop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.policy.vocabulary import LOGICAL_OPERATORS, normalise_name, wire_left_operand

_RULE_KINDS = ("permission", "prohibition", "obligation", "duty", "remedy", "consequence")


def wire_policy(policy: Mapping[str, Any]) -> dict[str, Any]:
    """`policy` with every left operand this node knows spelled for the wire."""
    respelled: dict[str, Any] = _respelled(policy)
    return respelled


def _respelled(value: Any) -> Any:
    if isinstance(value, list):
        return [_respelled(v) for v in value]
    if not isinstance(value, Mapping):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = normalise_name(key) if isinstance(key, str) else key
        if name == "leftOperand" and isinstance(item, str):
            out[key] = wire_left_operand(item)
        elif name in _RULE_KINDS or name == "constraint" or name in LOGICAL_OPERATORS:
            out[key] = _respelled(item)
        else:
            out[key] = item
    return out


def declare_purpose(policy: Mapping[str, Any], purpose: str) -> dict[str, Any]:
    """`policy` with ``odrl:purpose eq purpose`` added to each of its permissions."""
    stated = {"leftOperand": wire_left_operand("purpose"), "operator": "eq", "rightOperand": purpose}
    out = dict(policy)
    permissions = out.get("permission")
    if isinstance(permissions, Mapping):
        permissions = [permissions]
    if not isinstance(permissions, list):
        return out
    declared = []
    for permission in permissions:
        if not isinstance(permission, Mapping):
            declared.append(permission)
            continue
        constraints = permission.get("constraint", [])
        listed = [constraints] if isinstance(constraints, Mapping) else list(constraints or [])
        declared.append({**permission, "constraint": [*listed, stated]})
    out["permission"] = declared
    return out
