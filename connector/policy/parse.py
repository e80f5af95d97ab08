"""From compact ODRL JSON (as in DSP messages, configuration and the management API) to a `Policy`.

Two strictness levels. A *structural* problem (not an object, a rule without an action, a constraint that is neither
atomic nor logical, an ODRL feature whose meaning this node would silently drop) makes `parse_policy` raise
ConnectorError. A member of a rule that is no ODRL rule property (a title, an extension of another vocabulary)
carries no policy meaning and is left aside. A *semantic* problem (an unknown left operand or operator, a right
operand of the wrong type) does not: the constraint is kept, marked not evaluable, and any decision that depends on
it is a denial naming it, because a policy from a peer must be decidable even when it says something this node does
not know.
`validate_policy` reports both kinds, every one with the path of the offending field, for authoring.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from connector.errors import ConnectorError, Problem
from connector.policy.duties import duty_problem
from connector.policy.model import (
    AtomicConstraint,
    Constraint,
    LogicalConstraint,
    Policy,
    Rule,
    RuleKind,
    freeze,
    thaw,
)
from connector.policy.operands import OPERAND_SPECS, compile_right_operand, describe_right_operand
from connector.policy.regions import expand_place, is_static_place
from connector.policy.values import from_micros, parse_date_time
from connector.policy.vocabulary import (
    LOGICAL_OPERATORS,
    OPERATORS,
    POLICY_TYPES,
    UNSUPPORTED_OPERATORS,
    left_operand_name,
    normalise_name,
)

MAX_DEPTH = 16  # nesting of logical constraints and duties; deeper documents are refused, not recursed into

_ATOMIC_KEYS = frozenset({"leftOperand", "operator", "rightOperand"})
_IGNORED_CONSTRAINT_KEYS = frozenset({"uid", "dataType"})  # dataType: the left operand fixes the kind anyway
_UNSUPPORTED_CONSTRAINT_KEYS = frozenset({"rightOperandReference", "unit", "status"})
_RULE_KEYS = frozenset({"action", "constraint", "target", "assigner", "assignee", "uid"})
# ODRL rule properties that change what a rule means and that this engine does not implement (the nested duty
# kinds count when they sit on the wrong kind of rule). Any other member of a rule (a title, a description, an
# extension of another vocabulary) carries no policy meaning here and is left aside, as the DSP schema allows.
_MEANINGFUL_RULE_KEYS = frozenset(
    {"duty", "remedy", "consequence", "failure", "function", "relation", "output", "refinement", "partOf"}
)
_NESTED_DUTY_KEY: dict[RuleKind, str] = {
    "permission": "duty",
    "prohibition": "remedy",
    "duty": "consequence",
    "obligation": "consequence",
}
# A policy's own rules; each kind is also the key holding them.
_POLICY_RULE_KINDS: tuple[RuleKind, ...] = ("permission", "prohibition", "obligation")
_UNSUPPORTED_POLICY_KEYS = frozenset({"inheritFrom", "inheritAllowed"})


class _Reader:
    """Walks a document, building the model and collecting structural problems instead of stopping at one."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, code: str, reason: str, where: str | None) -> None:
        self.problems.append(Problem(code, reason, where or None))

    # -- helpers --------------------------------------------------------------------------------------------
    def keys(self, obj: Mapping[Any, Any], where: str) -> dict[str, Any]:
        """An object's members with ODRL names normalised; a duplicate after normalisation is a problem."""
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                self.fail("policy.invalid", "Object keys must be strings.", where)
                continue
            name = normalise_name(key)
            if name in out:
                self.fail(
                    "policy.invalid", f"'{name}' is given twice (as '{key}' and another spelling).", _join(where, name)
                )
                continue
            out[name] = value
        return out

    def reference(self, value: Any, where: str) -> str | None:
        """An IRI given as a string or as {"@id": ...} (also ODRL's {"uid": ...})."""
        if isinstance(value, str) and value:
            return value
        if isinstance(value, Mapping):
            ident = value.get("@id", value.get("uid"))
            if isinstance(ident, str) and ident:
                return ident
        self.fail("policy.invalid", "Expected an identifier: a non-empty string or an object with '@id'.", where)
        return None

    def name(self, value: Any, where: str, what: str) -> str | None:
        """A vocabulary term (operator, left operand): a string or {"@id": ...}, normalised."""
        if isinstance(value, Mapping) and set(value) <= {"@id", "@type"} and "@id" in value:
            value = value["@id"]
        if isinstance(value, str) and value:
            return left_operand_name(value) if what == "left operand" else normalise_name(value)
        self.fail("policy.invalid", f"The {what} must be a non-empty string.", where)
        return None

    def items(self, value: Any, where: str) -> Iterator[tuple[str, Any]]:
        """The members of a list-valued property; a lone object counts as a one-element list (JSON-LD compaction)."""
        if isinstance(value, Mapping):
            yield f"{where}[0]", value
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield f"{where}[{index}]", item
        else:
            self.fail("policy.invalid", "Expected a list of objects.", where)

    # -- policy ---------------------------------------------------------------------------------------------
    def policy(self, doc: Any) -> Policy | None:
        if not isinstance(doc, Mapping):
            self.fail("policy.invalid", "A policy must be a JSON object.", None)
            return None
        members = self.keys(doc, "")
        uid: str | None = None
        raw_uid = members.get("@id", members.get("uid"))
        if raw_uid is not None:
            if isinstance(raw_uid, str) and raw_uid:
                uid = raw_uid
            else:
                self.fail("policy.invalid", "The policy '@id' must be a non-empty string.", "@id")
        policy_type = self.policy_type(members.get("@type"))
        target = self.reference(members["target"], "target") if "target" in members else None
        assigner = self.reference(members["assigner"], "assigner") if "assigner" in members else None
        assignee = self.reference(members["assignee"], "assignee") if "assignee" in members else None
        for key in sorted(_UNSUPPORTED_POLICY_KEYS & members.keys()):
            self.fail("policy.unsupported", f"Policy inheritance ('{key}') is not supported.", key)
        conflict = members.get("conflict")
        if conflict is not None and normalise_name(str(_ref_text(conflict))) != "prohibit":
            # This engine always lets a satisfied prohibition win; any other strategy would be ignored.
            self.fail("policy.unsupported", "Only the 'prohibit' conflict strategy is supported.", "conflict")
        profile: tuple[str, ...] = ()
        if "profile" in members:
            raw_profile = members["profile"]
            listed = raw_profile if isinstance(raw_profile, list) else [raw_profile]
            if all(isinstance(p, str) for p in listed):
                profile = tuple(listed)
            else:
                self.fail("policy.invalid", "'profile' must be an IRI or a list of IRIs.", "profile")
        timestamp = self.timestamp(members.get("timestamp"))
        parties = {"target": target, "assigner": assigner, "assignee": assignee}
        rules: dict[str, tuple[Rule, ...]] = {}
        for kind in _POLICY_RULE_KINDS:
            found: list[Rule] = []
            if kind in members:
                for where, item in self.items(members[kind], kind):
                    rule = self.rule(item, kind, where, parties, 0)
                    if rule is not None:
                        found.append(rule)
            rules[kind] = tuple(found)
        return Policy(
            uid=uid,
            type=policy_type,
            target=target,
            assigner=assigner,
            assignee=assignee,
            permissions=rules["permission"],
            prohibitions=rules["prohibition"],
            obligations=rules["obligation"],
            profile=profile,
            timestamp=timestamp,
            raw=doc,
        )

    def policy_type(self, raw: Any) -> str:
        if raw is None:
            return "Set"
        if isinstance(raw, list) and len(raw) == 1:
            raw = raw[0]
        if isinstance(raw, str) and normalise_name(raw) in POLICY_TYPES:
            return normalise_name(raw)
        self.fail("policy.invalid", "The policy '@type' must be Offer, Agreement or Set.", "@type")
        return "Set"

    def timestamp(self, raw: Any) -> datetime | None:
        if raw is None:
            return None
        if isinstance(raw, Mapping):
            raw = raw.get("@value")
        if isinstance(raw, str):
            try:
                span = parse_date_time(raw)
            except ConnectorError as exc:
                self.fail("policy.invalid", f"The timestamp is not valid: {exc.reason}.", "timestamp")
                return None
            if not span.is_date:
                return from_micros(span.first)
        self.fail("policy.invalid", "The timestamp must be an xsd:dateTime.", "timestamp")
        return None

    # -- rules ----------------------------------------------------------------------------------------------
    def rule(self, obj: Any, kind: RuleKind, where: str, parties: Mapping[str, str | None], depth: int) -> Rule | None:
        if not isinstance(obj, Mapping):
            self.fail("policy.invalid", f"A {kind} must be a JSON object.", where)
            return None
        if depth > MAX_DEPTH:
            self.fail("policy.invalid", "Duties are nested too deeply.", where)
            return None
        members = self.keys(obj, where)
        nested_key = _NESTED_DUTY_KEY[kind]
        for key in members:
            if key.startswith("@") or key in _RULE_KEYS or key == nested_key or key not in _MEANINGFUL_RULE_KEYS:
                continue
            self.fail(
                "policy.unsupported",
                f"'{key}' is not supported on a {kind}; it would change its meaning.",
                _join(where, key),
            )
        action = self.action(members.get("action"), _join(where, "action"), kind)
        for party in ("target", "assigner", "assignee"):
            if party in members:
                # A rule may repeat the policy's party (some connectors emit it); a different one is a second policy.
                value = self.reference(members[party], _join(where, party))
                if value is not None and value != parties.get(party):
                    self.fail(
                        "policy.unsupported",
                        f"A {kind} naming its own {party} different from the policy's is not supported.",
                        _join(where, party),
                    )
        constraints = self.constraints(members.get("constraint"), _join(where, "constraint"), depth)
        duties: list[Rule] = []
        if nested_key in members:
            for nested_where, item in self.items(members[nested_key], _join(where, nested_key)):
                duty = self.rule(item, "duty", nested_where, parties, depth + 1)
                if duty is not None:
                    duties.append(duty)
        return Rule(kind, action or "", constraints, tuple(duties), where)

    def action(self, raw: Any, where: str, kind: str) -> str | None:
        if raw is None:
            self.fail("policy.missing_action", f"The {kind} has no action.", where)
            return None
        if isinstance(raw, list) and len(raw) == 1:
            raw = raw[0]
        if isinstance(raw, Mapping):
            members = self.keys(raw, where)
            if "refinement" in members:
                self.fail("policy.unsupported", "Action refinements are not supported.", _join(where, "refinement"))
                return None
            for key in ("@id", "rdf:value", "value", "action"):
                if key in members:
                    raw = members[key]
                    if isinstance(raw, Mapping):
                        raw = raw.get("@id")
                    break
        if isinstance(raw, str) and raw:
            return normalise_name(raw)
        self.fail("policy.missing_action", f"The {kind} action must be a name such as 'use'.", where)
        return None

    # -- constraints ----------------------------------------------------------------------------------------
    def constraints(self, raw: Any, where: str, depth: int) -> tuple[Constraint, ...]:
        if raw is None:
            return ()
        found: list[Constraint] = []
        for item_where, item in self.items(raw, where):
            constraint = self.constraint(item, item_where, depth + 1)
            if constraint is not None:
                found.append(constraint)
        return tuple(found)

    def constraint(self, obj: Any, where: str, depth: int) -> Constraint | None:
        if not isinstance(obj, Mapping):
            self.fail("policy.invalid", "A constraint must be a JSON object.", where)
            return None
        if depth > MAX_DEPTH:
            self.fail("policy.invalid", "Constraints are nested too deeply.", where)
            return None
        members = self.keys(obj, where)
        logical = [key for key in LOGICAL_OPERATORS if key in members]
        atomic = _ATOMIC_KEYS & members.keys()
        for key in sorted(members.keys() & _UNSUPPORTED_CONSTRAINT_KEYS):
            self.fail("policy.unsupported", f"'{key}' on a constraint is not supported.", _join(where, key))
        unknown = [
            key
            for key in members
            if not key.startswith("@")
            and key not in _ATOMIC_KEYS
            and key not in LOGICAL_OPERATORS
            and key not in _IGNORED_CONSTRAINT_KEYS
            and key not in _UNSUPPORTED_CONSTRAINT_KEYS
        ]
        for key in unknown:
            self.fail("policy.unsupported", f"'{key}' is not a constraint property.", _join(where, key))
        if logical and atomic:
            self.fail("policy.invalid", "A constraint is either atomic or logical, not both.", where)
            return None
        if len(logical) > 1:
            self.fail(
                "policy.invalid", "A logical constraint has exactly one operator (and, or, xone, andSequence).", where
            )
            return None
        if logical:
            operator = logical[0]
            inner = self.constraints(members[operator], _join(where, operator), depth)
            return LogicalConstraint(operator, inner, where)
        return self.atomic(members, where)

    def atomic(self, members: Mapping[str, Any], where: str) -> AtomicConstraint | None:
        missing = [key for key in ("leftOperand", "operator", "rightOperand") if key not in members]
        if missing:
            for key in missing:
                self.fail("policy.invalid", f"The constraint has no {key}.", _join(where, key))
            return None
        left = self.name(members["leftOperand"], _join(where, "leftOperand"), "left operand")
        operator = self.name(members["operator"], _join(where, "operator"), "operator")
        if left is None or operator is None:
            return None
        right = _unwrap(members["rightOperand"])
        return build_atomic(left, operator, right, where)


def _ref_text(value: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get("@id", "")
    return value


def _unwrap(value: Any) -> Any:
    """JSON-LD value and node objects to plain values: {"@value": v} -> v, {"@id": iri} -> iri."""
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, Mapping):
        if "@value" in value:
            return value["@value"]
        if "@id" in value and len(value) <= 2 and set(value) <= {"@id", "@type"}:
            return value["@id"]
        if "@list" in value and isinstance(value["@list"], list):
            return [_unwrap(v) for v in value["@list"]]
    return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def build_atomic(left: str, operator: str, right: Any, where: str = "") -> AtomicConstraint:
    """An atomic constraint with its right operand interpreted, or the problems that stop its evaluation."""
    spec = OPERAND_SPECS.get(left)
    problems: list[Problem] = []
    compiled = None
    if spec is None:
        problems.append(
            Problem(
                "policy.unknown_left_operand",
                f"This node cannot evaluate the left operand '{left}'.",
                _join(where, "leftOperand"),
            )
        )
    if operator not in OPERATORS:
        problems.append(
            Problem("policy.unknown_operator", f"'{operator}' is not an ODRL operator.", _join(where, "operator"))
        )
    elif operator in UNSUPPORTED_OPERATORS:
        problems.append(
            Problem(
                "policy.unsupported_operator",
                f"This node cannot evaluate the operator '{operator}'.",
                _join(where, "operator"),
            )
        )
    elif spec is not None and operator not in spec.operators:
        problems.append(
            Problem(
                "policy.operator_not_applicable",
                f"'{operator}' does not apply to {left} (use one of {', '.join(sorted(spec.operators))}).",
                _join(where, "operator"),
            )
        )
    if spec is not None and not problems:
        try:
            compiled = compile_right_operand(spec, operator, right)
        except ConnectorError as exc:
            problems.append(
                Problem(
                    "policy.bad_right_operand", f"Right operand of {left}: {exc.reason}.", _join(where, "rightOperand")
                )
            )
    text = f"{left} {operator} {describe_right_operand(spec, right)}"
    return AtomicConstraint(left, operator, freeze(right), where, compiled, tuple(problems), text)


def parse_policy(doc: Any) -> Policy:
    """Parse a compact ODRL policy. Raises ConnectorError (code of the first structural problem) and nothing else."""
    reader = _Reader()
    try:
        policy = reader.policy(doc)
    except RecursionError as exc:  # a pathological document nested deeper than any bound above can see
        raise ConnectorError("policy.invalid", "The policy is nested too deeply.") from exc
    if reader.problems or policy is None:
        first = reader.problems[0]
        raise ConnectorError(
            first.code, f"Invalid policy: {first.reason}", first.where, problems=[str(p) for p in reader.problems]
        )
    return policy


def _walk(constraints: tuple[Constraint, ...]) -> Iterator[Constraint]:
    for constraint in constraints:
        yield constraint
        if isinstance(constraint, LogicalConstraint):
            yield from _walk(constraint.constraints)


def _walk_rules(rules: tuple[Rule, ...]) -> Iterator[Rule]:
    for rule in rules:
        yield rule
        yield from _walk_rules(rule.duties)


def validate_policy(doc: Any, regions: Mapping[str, frozenset[str]] | None = None) -> list[Problem]:
    """Every problem in a policy document, each with `where` naming the field (for configuration and the
    management API). Empty means the node can evaluate every constraint; it may still deny at decision time."""
    reader = _Reader()
    try:
        policy = reader.policy(doc)
    except RecursionError:
        return [Problem("policy.invalid", "The policy is nested too deeply.")]
    problems = list(reader.problems)
    if policy is None:
        return problems
    configured = regions or {}
    if (
        not policy.permissions
        and not policy.prohibitions
        and not any(p.code == "policy.invalid" and p.where in ("permission", "prohibition") for p in problems)
    ):
        problems.append(Problem("policy.no_rules", "The policy has no permission, so it permits nothing.", None))
    if policy.type == "Agreement":
        for party in ("target", "assigner", "assignee"):
            if getattr(policy, party) is None:
                problems.append(Problem("policy.invalid", f"An Agreement must name its {party}.", party))
    # A prohibition's remedies never come due (a prohibited action is refused), so only these duties matter.
    for rule in policy.obligations + tuple(d for p in policy.permissions for d in p.duties):
        unfulfillable = duty_problem(rule)
        if unfulfillable is not None:
            problems.append(
                Problem(
                    unfulfillable.code,
                    f"This node cannot fulfil the {rule.kind} '{rule.action}' ({unfulfillable.reason}), so a "
                    "decision that depends on it is always a denial.",
                    rule.where,
                )
            )
    for rule in _walk_rules(policy.rules):
        for constraint in _walk(rule.constraints):
            if isinstance(constraint, LogicalConstraint):
                if not constraint.constraints:
                    problems.append(
                        Problem(
                            "policy.empty_logical_constraint",
                            f"The '{constraint.operator}' constraint lists no constraints.",
                            _join(constraint.where, constraint.operator),
                        )
                    )
                continue
            problems.extend(constraint.problems)
            if not constraint.problems and constraint.left_operand in ("countryOfEstablishment", "registeredIn"):
                names = thaw(constraint.right_operand)
                for index, name in enumerate(names if isinstance(names, list) else [names]):
                    if not is_static_place(name) and expand_place(name, configured) is None:
                        suffix = f"[{index}]" if isinstance(names, list) else ""
                        problems.append(
                            Problem(
                                "policy.bad_right_operand",
                                f"'{name}' is neither an ISO 3166-1 alpha-2 country code nor a known region.",
                                _join(constraint.where, "rightOperand") + suffix,
                            )
                        )
    return problems
