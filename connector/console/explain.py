"""What a process's record says, arranged for reading: its timeline, the decisions taken on it with their traces
(what `connector explain` prints), the peer's verified claims, and ODRL policies in words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.policy.vocabulary import normalise_name
from connector.policy.words import constraint_words

DECISION_KEYS = ("explanation", "differences", "trace")
NEGOTIATION_STATES = ("REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED", "FINALIZED", "TERMINATED")
TRANSFER_STATES = ("REQUESTED", "STARTED", "SUSPENDED", "COMPLETED", "TERMINATED")
TERMINAL = frozenset({"FINALIZED", "TERMINATED", "COMPLETED"})


@dataclass(frozen=True)
class Step:
    """One entry of a process's history: a change of state, or an event within one."""

    at: str
    state: str
    moved_from: str | None  # None: nothing moved (an event within `state`)
    cause: str
    reason: str | None
    detail: Mapping[str, Any] | None


def timeline(history: Sequence[Mapping[str, Any]]) -> list[Step]:
    steps = []
    for h in history:
        moved = h.get("from") != h.get("to")
        steps.append(
            Step(
                at=str(h.get("at") or ""),
                state=str(h.get("to") or ""),
                moved_from=(h.get("from") or "-") if moved else None,
                cause=str(h.get("cause") or ""),
                reason=h.get("reason"),
                detail=h.get("detail") if isinstance(h.get("detail"), Mapping) else None,
            )
        )
    return steps


def decisions(history: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The history entries that record a policy decision (with its explanation, differences or trace)."""
    return [h for h in history if isinstance(h.get("detail"), Mapping) and any(k in h["detail"] for k in DECISION_KEYS)]


def passed(outcome: Any) -> bool | None:
    """Whether a trace node's outcome is a success (True), a failure (False), or neither."""
    text = str(outcome or "").lower()
    if text in ("satisfied", "permitted", "granted", "matched", "agreed", "allowed", "ok"):
        return True
    if text.startswith(("not ", "denied", "refused", "unknown", "failed")):
        return False
    return None


def policy_words(policy: Any) -> list[str]:
    """An ODRL policy's rules, one line each: 'permission use: purpose eq research'."""
    if not isinstance(policy, Mapping):
        return []
    lines = []
    for kind in ("permission", "prohibition", "obligation"):
        for rule in policy.get(kind) or []:
            if not isinstance(rule, Mapping):
                continue
            action = rule.get("action")
            if isinstance(action, Mapping):
                action = action.get("@id") or action.get("action") or action
            if isinstance(action, str):
                action = normalise_name(action)
            constraints = [constraint_words(c) for c in rule.get("constraint") or []]
            duties = [f"duty {d.get('action')}" for d in rule.get("duty") or [] if isinstance(d, Mapping)]
            condition = " and ".join(constraints + duties)
            lines.append(f"{kind} {action}" + (f": {condition}" if condition else " (no constraint)"))
    return lines or ["no rule"]


def subject_facts(subject: Any) -> list[tuple[str, str]]:
    """A credential subject's claims other than its id, each value in words (`claim_words`)."""
    if not isinstance(subject, Mapping):
        return []
    return [(str(k), claim_words(v)) for k, v in subject.items() if k != "id"]


def claim_words(value: Any, nested: bool = False) -> str:
    """A claim's value for reading: an object's members as 'name value' separated by commas (an object within one
    in parentheses), a list's items separated by commas, JSON's true and false."""
    if isinstance(value, Mapping):
        text = ", ".join(f"{k} {claim_words(v, nested=True)}" for k, v in value.items())
        return f"({text})" if nested else text
    if isinstance(value, list | tuple):
        return ", ".join(claim_words(v, nested) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)
