"""Classes of claims: which peers get the same catalogue decisions, so that a decision is made once per class.

An access policy decided at stage "catalog" reads the peer only through the left operands that credentials
determine (membership, credential types, country, registry facts) and, if it names an assignee, through the
peer's identifier. Two peers whose claims give the same observation of each of those operands therefore get the
same outcome from every access policy that names no assignee and reads nothing else: they are of one class. What
the clock gives (`dateTime`) or the policy does not know (an unknown left operand) is left out, and such a
policy is decided for every request.
"""

from __future__ import annotations

from collections.abc import Hashable

from connector.policy.context import DecisionContext
from connector.policy.model import Policy
from connector.policy.operands import FROM_CLAIMS, observe

# Operands whose observation at the catalogue stage does not depend on who asks or when: no purpose is declared
# when browsing and no transfer has happened yet, whatever the peer.
_CONSTANT_AT_CATALOGUE = frozenset({"purpose", "count"})
_CLASS_OPERANDS = tuple(sorted(FROM_CLAIMS))


def claims_class(ctx: DecisionContext) -> Hashable | None:
    """A key equal for two catalogue contexts exactly when every claims operand reads the same in both; None when
    an observation is not a plain value (then the caller decides without sharing)."""
    key = []
    for name in _CLASS_OPERANDS:
        seen = observe(name, ctx)
        key.append((name, seen.value, seen.available, seen.code))
    result = tuple(key)
    try:
        hash(result)
    except TypeError:
        return None
    return result


def decided_by_class(policy: Policy) -> bool:
    """Whether the policy's catalogue decision depends on the peer's class of claims alone."""
    return policy.assignee is None and policy.left_operands <= FROM_CLAIMS | _CONSTANT_AT_CATALOGUE
