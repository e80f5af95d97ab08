"""validate_policy: every problem, with `where` pointing at the offending field."""

from __future__ import annotations

from typing import Any

import pytest

from connector.policy.engine import validate_policy


def problems(doc: Any, **kwargs: Any) -> list[tuple[str, str | None]]:
    return [(p.code, p.where) for p in validate_policy(doc, **kwargs)]


def with_constraints(*constraints: Any) -> dict[str, Any]:
    return {
        "@id": "urn:p",
        "@type": "Offer",
        "permission": [
            {"action": "use"},
            {"action": "use", "constraint": list(constraints)},
        ],
    }


def atom(left: str, operator: str, right: Any) -> dict[str, Any]:
    return {"leftOperand": left, "operator": operator, "rightOperand": right}


def test_a_realistic_offer_has_no_problems() -> None:
    doc = with_constraints(
        atom("membership", "isAnyOf", ["eu-dataspace"]),
        atom("countryOfEstablishment", "isPartOf", ["EU", "EEA", "CH"]),
        atom("purpose", "eq", "research"),
        atom("dateTime", "lteq", "2026-12-31T23:59:59Z"),
        atom("count", "lteq", "5"),
        atom("elapsedTime", "lteq", "P30D"),
        {"and": [atom("credentialType", "hasPart", "OrganizationCredential")]},
    )
    assert validate_policy(doc) == []


@pytest.mark.parametrize(
    ("constraint", "code", "field"),
    [
        (atom("purpose", "matches", "x"), "policy.unknown_operator", "operator"),
        (atom("purpose", "term-lteq", "x"), "policy.unsupported_operator", "operator"),
        (atom("spatial", "eq", "_:EU"), "policy.unknown_left_operand", "leftOperand"),
        (atom("dateTime", "isAnyOf", ["2026-01-01"]), "policy.operator_not_applicable", "operator"),
        (atom("dateTime", "lteq", "31/12/2026"), "policy.bad_right_operand", "rightOperand"),
        (atom("dateTime", "lteq", 20261231), "policy.bad_right_operand", "rightOperand"),
        (atom("count", "lteq", "five"), "policy.bad_right_operand", "rightOperand"),
        (atom("count", "lteq", 2.5), "policy.bad_right_operand", "rightOperand"),
        (atom("elapsedTime", "lteq", "30 days"), "policy.bad_right_operand", "rightOperand"),
        (atom("elapsedTime", "lteq", "P1.5D"), "policy.bad_right_operand", "rightOperand"),
        (atom("membership", "isAnyOf", []), "policy.bad_right_operand", "rightOperand"),
        (atom("membership", "isA", ["a", "b"]), "policy.bad_right_operand", "rightOperand"),
        (atom("purpose", "eq", ["research", "education"]), "policy.bad_right_operand", "rightOperand"),
        (atom("countryOfEstablishment", "eq", ["DE"]), "policy.bad_right_operand", "rightOperand"),
        (atom("countryOfEstablishment", "isPartOf", "ATLANTIS"), "policy.bad_right_operand", "rightOperand"),
    ],
)
def test_each_constraint_problem_points_at_its_field(constraint: Any, code: str, field: str) -> None:
    assert problems(with_constraints(atom("count", "lteq", 1), constraint)) == [
        (code, f"permission[1].constraint[1].{field}")
    ]


def test_an_unknown_region_inside_a_list_is_pinpointed() -> None:
    doc = with_constraints(atom("countryOfEstablishment", "isAnyOf", ["EU", "ATLANTIS"]))
    assert problems(doc) == [("policy.bad_right_operand", "permission[1].constraint[0].rightOperand[1]")]


def test_configured_regions_are_valid_right_operands() -> None:
    doc = with_constraints(atom("countryOfEstablishment", "isPartOf", "NORDICS"))
    assert problems(doc, regions={"NORDICS": frozenset({"DK", "SE"})}) == []


def test_problems_inside_logical_constraints_have_full_paths() -> None:
    doc = with_constraints({"or": [atom("purpose", "eq", "x"), {"and": [atom("count", "lteq", "x")]}]})
    assert problems(doc) == [("policy.bad_right_operand", "permission[1].constraint[0].or[1].and[0].rightOperand")]


@pytest.mark.parametrize("operator", ["and", "or", "xone", "andSequence"])
def test_empty_logical_constraints_are_reported(operator: str) -> None:
    assert problems(with_constraints({operator: []})) == [
        ("policy.empty_logical_constraint", f"permission[1].constraint[0].{operator}")
    ]


def test_a_missing_action_is_reported_with_the_other_problems() -> None:
    doc = {
        "@type": "Offer",
        "permission": [{"constraint": [atom("purpose", "bogus", "x")]}],
        "prohibition": [{"action": "use"}, {"constraint": []}],
    }
    assert problems(doc) == [
        ("policy.missing_action", "permission[0].action"),
        ("policy.missing_action", "prohibition[1].action"),
        ("policy.unknown_operator", "permission[0].constraint[0].operator"),
    ]


def test_duties_and_obligations_are_reported_as_unfulfillable_but_remedies_are_not() -> None:
    doc = {
        "@type": "Offer",
        "permission": [{"action": "use", "duty": [{"action": "delete"}]}],
        "prohibition": [{"action": "distribute", "remedy": [{"action": "anonymize"}]}],
        "obligation": [{"action": "compensate"}],
    }
    assert problems(doc) == [
        ("policy.unfulfillable_duty", "obligation[0]"),
        ("policy.unfulfillable_duty", "permission[0].duty[0]"),
    ]


def test_a_policy_without_rules_is_reported() -> None:
    assert problems({"@type": "Set"}) == [("policy.no_rules", None)]


def test_an_agreement_must_name_its_parties() -> None:
    doc = {"@id": "urn:a", "@type": "Agreement", "permission": [{"action": "use"}]}
    assert problems(doc) == [("policy.invalid", party) for party in ("target", "assigner", "assignee")]


def test_structural_and_semantic_problems_are_reported_together() -> None:
    doc = {"@type": "Offer", "target": 7, "permission": [{"action": "use", "constraint": [atom("x", "eq", 1)]}]}
    assert problems(doc) == [
        ("policy.invalid", "target"),
        ("policy.unknown_left_operand", "permission[0].constraint[0].leftOperand"),
    ]


@pytest.mark.parametrize("doc", [None, "policy", 3, []])
def test_non_objects_are_one_problem(doc: Any) -> None:
    assert problems(doc) == [("policy.invalid", None)]
