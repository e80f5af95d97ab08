"""The policy engine's interface: parsing, evaluation, decisions and their traces, usage duties, narrowing.

Kept apart from the package (`connector.policy` imports nothing of its own): a node holds the decision seam,
the parties' names, the wire spelling and the regions from start, and the engine only from the first policy it
parses or decides.
"""

from connector.policy.context import DecisionContext, Stage
from connector.policy.decide import (
    compare_agreement,
    decide_access,
    decide_contract,
    decide_transfer,
    declared_purpose,
    policy_sha256,
)
from connector.policy.duties import UsageDuties, usage_duties
from connector.policy.evaluate import evaluate
from connector.policy.model import AtomicConstraint, Constraint, LogicalConstraint, Policy, Rule
from connector.policy.narrowing import narrowing, strictness_gaps
from connector.policy.parse import parse_policy, validate_policy
from connector.policy.parties import PartyNames
from connector.policy.regions import BUILTIN_REGIONS, validate_regions
from connector.policy.spelling import declare_purpose, wire_policy
from connector.policy.trace import Decision, TraceNode, render_trace

__all__ = [
    "AtomicConstraint",
    "BUILTIN_REGIONS",
    "Constraint",
    "Decision",
    "DecisionContext",
    "LogicalConstraint",
    "PartyNames",
    "Policy",
    "Rule",
    "Stage",
    "TraceNode",
    "UsageDuties",
    "compare_agreement",
    "decide_access",
    "decide_contract",
    "decide_transfer",
    "declare_purpose",
    "declared_purpose",
    "evaluate",
    "narrowing",
    "parse_policy",
    "policy_sha256",
    "render_trace",
    "strictness_gaps",
    "usage_duties",
    "validate_policy",
    "validate_regions",
    "wire_policy",
]
