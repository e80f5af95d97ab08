"""The parsed form of an ODRL policy: the compact JSON of DSP messages, as frozen values.

Names are normalised (``odrl:eq`` and ``http://www.w3.org/ns/odrl/2/eq`` become ``eq``) and right operands are
kept as given (frozen); each atomic constraint also carries its right operand already interpreted for its left
operand (`compiled`), or the problems that stop the node evaluating it, so a policy is parsed once and decided on
many times. `where` fields are JSON paths into the source document, for messages a person can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from connector.errors import Problem
from connector.policy.vocabulary import LogicalOperator

RuleKind = Literal["permission", "prohibition", "duty", "obligation"]


class JsonObject(tuple[tuple[str, Any], ...]):
    """A JSON object frozen as sorted (key, value) pairs, so right operands stay hashable."""

    __slots__ = ()


def freeze(value: Any) -> Any:
    """JSON -> hashable: arrays become tuples, objects `JsonObject`s."""
    if isinstance(value, JsonObject):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, Mapping):
        return JsonObject(sorted(((str(k), freeze(v)) for k, v in value.items()), key=lambda item: item[0]))
    return value


def thaw(value: Any) -> Any:
    """Hashable -> JSON, the inverse of `freeze`."""
    if isinstance(value, JsonObject):
        return {k: thaw(v) for k, v in value}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class AtomicConstraint:
    left_operand: str
    operator: str
    right_operand: Any  # frozen JSON, after unwrapping JSON-LD value objects
    where: str = field(default="", compare=False)
    # The right operand interpreted for the left operand (see operands.py); None when it cannot be.
    compiled: Any = field(default=None, compare=False, repr=False)
    # Why the node cannot evaluate this constraint (unknown operand or operator, bad right operand); empty if it can.
    problems: tuple[Problem, ...] = field(default=(), compare=False, repr=False)
    text: str = field(default="", compare=False, repr=False)  # `countryOfEstablishment isPartOf EU (AT, ...)`

    def __str__(self) -> str:
        return self.text or f"{self.left_operand} {self.operator} {thaw(self.right_operand)!r}"


@dataclass(frozen=True)
class LogicalConstraint:
    operator: LogicalOperator
    constraints: tuple[Constraint, ...]
    where: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.operator}(" + ", ".join(str(c) for c in self.constraints) + ")"


Constraint = AtomicConstraint | LogicalConstraint


@dataclass(frozen=True)
class Rule:
    """A permission, prohibition, duty (of a permission) or obligation (of the policy).

    `duties` holds the nested duties ODRL attaches to a rule: a permission's duties, a prohibition's remedies,
    a duty's consequences."""

    kind: RuleKind
    action: str
    constraints: tuple[Constraint, ...] = ()
    duties: tuple[Rule, ...] = ()
    where: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        return f"{self.kind} '{self.action}'"


@dataclass(frozen=True)
class Policy:
    uid: str | None
    type: str  # Offer | Agreement | Set
    target: str | None = None
    assigner: str | None = None
    assignee: str | None = None
    permissions: tuple[Rule, ...] = ()
    prohibitions: tuple[Rule, ...] = ()
    obligations: tuple[Rule, ...] = ()
    profile: tuple[str, ...] = ()
    timestamp: datetime | None = None  # an Agreement's conclusion time, when it states one
    # The document this was parsed from, as given (for hashing and evidence); not part of equality.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self.permissions + self.prohibitions + self.obligations

    def memo(self) -> dict[str, Any]:
        """Per-policy scratch space for values derived once and reused by every decision (not part of equality)."""
        found = self.__dict__.get("_memo")
        if found is None:
            found = {}
            object.__setattr__(self, "_memo", found)
        return found

    @property
    def left_operands(self) -> frozenset[str]:
        """Every left operand used anywhere in the policy."""
        memo = self.memo()
        found = memo.get("left_operands")
        if found is None:
            names: set[str] = set()
            pending: list[Any] = [c for rule in self.rules for c in rule.constraints]
            pending += [c for rule in self.rules for duty in rule.duties for c in duty.constraints]
            while pending:
                item = pending.pop()
                if isinstance(item, AtomicConstraint):
                    names.add(item.left_operand)
                else:
                    pending.extend(item.constraints)
            found = memo["left_operands"] = frozenset(names)
        return found

    def describe(self) -> str:
        parts = [f"{self.type} {self.uid}" if self.uid else self.type]
        if self.target:
            parts.append(f"target {self.target}")
        return ", ".join(parts)
