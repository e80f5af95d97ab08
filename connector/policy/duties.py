"""Usage duties: what an agreement obliges the consumer's node to do with the data it receives, read from ODRL.

Three kinds of duty, written with ODRL's own actions, travel with an agreement (they are part of what both sides
sign), and the consumer's node fulfils them:

- **delete after a period**: a duty (of a permission) or an obligation with action ``delete`` and a time,
  ``elapsedTime lteq P30D`` (counted from the agreement, as every `elapsedTime` of this node) or
  ``dateTime lteq 2026-12-31T00:00:00Z``; with both, or several such duties, the earliest time wins. The node
  deletes every copy of the data it received under the agreement by then.
- **inform on each use**: a duty or obligation with action ``inform``: for each use (one transfer of the
  agreement's data), the node sends the provider a signed notice.
- **no onward transfer**: a prohibition of ``distribute`` ("to supply the Asset to third-parties"): the node
  refuses to offer data it received under the agreement. A distribute prohibition is read as unconditional
  even when it carries constraints (stricter, never looser).

Anything else - another action, a ``delete`` without a time, a duty with constraints this node cannot turn into
an obligation of its own, consequences of a duty - is a duty the node cannot fulfil: a policy that imposes one is
never agreed to (evaluate.py denies it, naming why). Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.errors import Problem
from connector.policy.model import AtomicConstraint, Policy, Rule, thaw
from connector.policy.values import Duration, add_duration, from_micros, parse_date_time, parse_duration, to_micros

DELETE = "delete"
INFORM = "inform"
DISTRIBUTE = "distribute"
FULFILLED_ACTIONS = (DELETE, INFORM)
_DEADLINE_OPERATORS = frozenset({"eq", "lteq", "lt"})  # "at the latest then"; later bounds say nothing of when


@dataclass(frozen=True)
class DeleteTerm:
    """One time by which the received data is deleted: `within` the agreement's conclusion, or `by` an instant."""

    within: Duration | None = None
    by: datetime | None = None

    def due(self, agreed_at: datetime) -> datetime:
        if self.within is not None:
            moment = from_micros(add_duration(to_micros(agreed_at), self.within))
            return moment if self.by is None else min(moment, self.by)
        assert self.by is not None
        return self.by

    def __str__(self) -> str:
        if self.within is not None:
            return f"within {self.within} of the agreement"
        assert self.by is not None
        return f"by {self.by.strftime('%Y-%m-%dT%H:%M:%SZ')}"


@dataclass(frozen=True)
class UsageDuties:
    """The duties of one policy, as the consumer's node fulfils them (`unfulfillable`: those it cannot)."""

    delete: tuple[DeleteTerm, ...] = ()
    inform: bool = False
    no_onward_transfer: bool = False
    unfulfillable: tuple[Problem, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.delete) or self.inform or self.no_onward_transfer

    def delete_due(self, agreed_at: datetime) -> datetime | None:
        """When the data received under the agreement must be deleted at the latest (None: never)."""
        return min((term.due(agreed_at) for term in self.delete), default=None)

    def describe(self) -> list[str]:
        out = [f"delete the data received {term}" for term in self.delete]
        if self.inform:
            out.append("inform the provider of each use")
        if self.no_onward_transfer:
            out.append("no onward transfer (distribute is prohibited)")
        return out

    def to_json(self, agreed_at: datetime | None = None) -> dict[str, Any]:
        due = self.delete_due(agreed_at) if agreed_at is not None else None
        return {
            "delete": [str(term) for term in self.delete],
            "deleteBy": due.strftime("%Y-%m-%dT%H:%M:%SZ") if due is not None else None,
            "inform": self.inform,
            "noOnwardTransfer": self.no_onward_transfer,
        }


def _delete_term(rule: Rule) -> DeleteTerm | Problem:
    unusable = Problem(
        "policy.unfulfillable_duty",
        f"a '{DELETE}' duty must say by when, with one elapsedTime or dateTime constraint (eq, lteq or lt)",
        rule.where or None,
    )
    within: Duration | None = None
    by: datetime | None = None
    for constraint in rule.constraints:
        if not isinstance(constraint, AtomicConstraint) or constraint.problems:
            return unusable
        if constraint.operator not in _DEADLINE_OPERATORS:
            return unusable
        raw = thaw(constraint.right_operand)
        if constraint.left_operand == "elapsedTime" and isinstance(raw, str):
            duration = parse_duration(raw)
            within = duration if within is None or _shorter(duration, within) else within
        elif constraint.left_operand == "dateTime" and isinstance(raw, str):
            span = parse_date_time(raw)
            moment = from_micros(span.first if constraint.operator == "lt" else span.last)
            by = moment if by is None else min(by, moment)
        else:
            return unusable
    if within is None and by is None:
        return unusable
    return DeleteTerm(within, by)


def _shorter(a: Duration, b: Duration) -> bool:
    """Whether `a` ends first from any start (months vary in length: compare from a fixed start when unsure)."""
    start = 0
    return add_duration(start, a) < add_duration(start, b)


def duty_problem(rule: Rule) -> Problem | None:
    """Why this node cannot fulfil the duty or obligation `rule`, or None when its node fulfils it."""
    if rule.duties:
        return Problem(
            "policy.unfulfillable_duty",
            f"this node does not carry out consequences of the duty '{rule.action}'",
            rule.where or None,
        )
    if rule.action == DELETE:
        term = _delete_term(rule)
        return term if isinstance(term, Problem) else None
    if rule.action == INFORM:
        if rule.constraints:
            return Problem(
                "policy.unfulfillable_duty",
                f"an '{INFORM}' duty informs the provider of every use; it takes no constraints",
                rule.where or None,
            )
        return None
    return Problem(
        "policy.unfulfillable_duty",
        f"this node fulfils '{DELETE}' (with a time) and '{INFORM}' duties, not '{rule.action}'",
        rule.where or None,
    )


def _owed(policy: Policy) -> Iterator[Rule]:
    """The duties the assignee owes: those of the permissions and the policy's obligations (a prohibition's
    remedies never come due, since a prohibited action is refused)."""
    for permission in policy.permissions:
        yield from permission.duties
    yield from policy.obligations


def usage_duties(policy: Policy) -> UsageDuties:
    """The usage duties `policy` imposes on its assignee (read once per parsed policy)."""
    memo = policy.memo()
    found = memo.get("usage_duties")
    if isinstance(found, UsageDuties):
        return found
    delete: list[DeleteTerm] = []
    inform = False
    problems: list[Problem] = []
    for rule in _owed(policy):
        problem = duty_problem(rule)
        if problem is not None:
            problems.append(problem)
        elif rule.action == DELETE:
            term = _delete_term(rule)
            assert isinstance(term, DeleteTerm)
            delete.append(term)
        else:
            inform = True
    onward = any(rule.action == DISTRIBUTE for rule in policy.prohibitions)
    found = UsageDuties(tuple(delete), inform, onward, tuple(problems))
    memo["usage_duties"] = found
    return found


def fulfilment(rule: Rule) -> str:
    """What the assignee's node does to fulfil a duty it can fulfil, in words (for traces)."""
    if rule.action == DELETE:
        term = _delete_term(rule)
        assert isinstance(term, DeleteTerm)
        return f"the assignee's node deletes the data it receives {term}, and signs a receipt"
    return "the assignee's node sends the provider a signed notice of each use"
