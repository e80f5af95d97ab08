"""Why a decision came out as it did: a tree with one node per rule and per constraint, and its plain-English form.

Every constraint node records what it required, the value the node saw, where that value came from (its source
category and the particular credential, record or clock reading) and the outcome. The same tree serialises to
JSON for evidence and audit (`to_json`) and renders as indented text for a person (`render_trace`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.errors import Problem

SATISFIED = "satisfied"
NOT_SATISFIED = "not satisfied"
NOT_EVALUABLE = "not evaluable"
SKIPPED = "skipped"  # after an unsatisfied member of an andSequence
NOT_APPLICABLE = "not applicable"  # a rule about another action
UNFULFILLABLE = "cannot be fulfilled"
OWED = "owed by the assignee"  # a duty the assignee's node fulfils after the permitted use (duties.py)
PERMITTED = "permitted"
DENIED = "denied"
MATCHED = "matched"
NOT_MATCHED = "not matched"


@dataclass(frozen=True)
class TraceNode:
    kind: str  # policy | party | permission | prohibition | duty | obligation | constraint | and | or | xone |
    # andSequence | skipped | contract | offer | difference
    where: str | None  # path of the rule or constraint in its policy document
    required: str  # what the node required, in words ("countryOfEstablishment isPartOf EU (AT, ...)")
    outcome: str
    why: str = ""
    seen: str | None = None  # the value observed, in words
    source: str | None = None  # where that value came from: "verified credentials", "node clock", ...
    provenance: str | None = None  # the particular credential, record or reading
    code: str | None = None  # machine code when not evaluable (policy.unknown_left_operand, ...)
    label: str | None = None  # for constraints, the rule they belong to ("permission 'use'")
    children: tuple[TraceNode, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "required": self.required, "outcome": self.outcome}
        for name in ("where", "why", "seen", "source", "provenance", "code", "label"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.children:
            out["children"] = [child.to_json() for child in self.children]
        return out

    def walk(self) -> list[TraceNode]:
        """This node and all below it, depth first."""
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found


def constraint_sentence(node: TraceNode) -> str:
    """`permission 'use' requires X; the peer is ... (from verified credentials: ...) -> not satisfied`."""
    head = f"{node.label} requires {node.required}" if node.label else f"requires {node.required}"
    if node.seen is None:
        return f"{head}, which this node cannot evaluate: {node.why} -> {node.outcome}"
    return f"{head}; {node.seen} (source: {node.source}; {node.provenance}) -> {node.outcome}"


@dataclass(frozen=True)
class Decision:
    """The outcome of one policy decision: permitted or not, the reasons in sentences, and the full trace."""

    permitted: bool
    reasons: tuple[str, ...]
    trace: TraceNode
    matched_offer: str | None = None  # decide_contract: @id of the provider offer the request was matched to

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "permitted": self.permitted,
            "reasons": list(self.reasons),
            "trace": self.trace.to_json(),
        }
        if self.matched_offer is not None:
            out["matchedOffer"] = self.matched_offer
        return out

    def problem(self) -> Problem | None:
        """For a denial, a Problem to send on the wire (code policy.denied, the first reason)."""
        if self.permitted:
            return None
        reason = self.reasons[0] if self.reasons else "The policy does not permit this."
        return Problem("policy.denied", reason, None, {"reasons": list(self.reasons)})


def _line(node: TraceNode) -> str:
    where = f"  @ {node.where}" if node.where else ""
    if node.kind == "constraint":  # the rule is named on the line above
        if node.seen is None:
            return f"{node.required}: cannot be evaluated, {node.why} -> {node.outcome}{where}"
        return f"{node.required}: {node.seen} (source: {node.source}; {node.provenance}) -> {node.outcome}{where}"
    text = f"{node.required} -> {node.outcome}"
    if node.why and node.kind not in ("policy", "contract"):
        text += f" ({node.why})"
    return text + where


def render_trace(trace: TraceNode) -> str:
    """An indented plain-English account, headed by the verdict and its main reason."""
    lines = [f"{trace.outcome.upper()}: {trace.why}" if trace.why else trace.outcome.upper()]

    def visit(node: TraceNode, depth: int) -> None:
        lines.append("  " * depth + _line(node))
        for child in node.children:
            visit(child, depth + 1)

    visit(trace, 1)
    return "\n".join(lines)
