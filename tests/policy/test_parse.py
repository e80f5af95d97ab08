from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connector.dsp
from connector.errors import ConnectorError
from connector.policy.engine import AtomicConstraint, LogicalConstraint, parse_policy
from connector.policy.model import freeze, thaw

EXAMPLES = Path(connector.dsp.__file__).parent / "spec" / "examples"  # the vendored DSP 2025-1 examples


def _example_policies() -> list[tuple[str, dict[str, Any]]]:
    """Every policy in the DSP 2025-1 specification examples."""
    root = EXAMPLES
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(root.glob("*/*.json")):
        doc = json.loads(path.read_text())
        for key in ("offer", "agreement"):
            if isinstance(doc.get(key), dict):
                found.append((f"{path.name}:{key}", doc[key]))
        for index, policy in enumerate(doc.get("hasPolicy", [])):
            found.append((f"{path.name}:hasPolicy[{index}]", policy))
    return found


SPEC_AGREEMENT = {
    "@id": "urn:uuid:e8dc8655-44c2-46ef-b701-4cffdc2faa44",
    "@type": "Agreement",
    "target": "urn:uuid:3dd1add4-4d2d-569e-d634-8394a8836d23",
    "profile": "https://test.com/profile",
    "timestamp": "2023-01-01T01:00:00Z",
    "assigner": "http://example.com/Provider",
    "assignee": "http://example.com/Consumer",
    "permission": [
        {
            "action": "use",
            "constraint": [{"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2023-12-31T06:00Z"}],
        },
        {
            "action": "use",
            "constraint": [
                {
                    "or": [
                        {
                            "and": [
                                {"leftOperand": "constraint1", "operator": "eq", "rightOperand": "value1"},
                                {"leftOperand": "constraint2", "operator": "eq", "rightOperand": "value2"},
                            ]
                        },
                        {"leftOperand": "partner", "operator": "eq", "rightOperand": "silver"},
                    ]
                }
            ],
        },
    ],
}


def test_the_specification_agreement_parses_with_nested_logical_constraints() -> None:
    policy = parse_policy(SPEC_AGREEMENT)
    assert (policy.type, policy.target, policy.assigner, policy.assignee) == (
        "Agreement",
        SPEC_AGREEMENT["target"],
        "http://example.com/Provider",
        "http://example.com/Consumer",
    )
    assert policy.timestamp == datetime(2023, 1, 1, 1, tzinfo=UTC)
    assert policy.profile == ("https://test.com/profile",)
    nested = policy.permissions[1].constraints[0]
    assert isinstance(nested, LogicalConstraint) and nested.operator == "or"
    assert isinstance(nested.constraints[0], LogicalConstraint) and nested.constraints[0].where == (
        "permission[1].constraint[0].or[0]"
    )
    assert policy.raw is SPEC_AGREEMENT


def test_the_specification_examples_hold_policies() -> None:
    assert len(_example_policies()) >= 7


@pytest.mark.parametrize(("name", "doc"), _example_policies())
def test_every_specification_example_policy_parses(name: str, doc: dict[str, Any]) -> None:
    assert parse_policy(doc).permissions


@pytest.mark.parametrize("spelling", ["eq", "odrl:eq", "http://www.w3.org/ns/odrl/2/eq", {"@id": "odrl:eq"}])
def test_operator_spellings_normalise(spelling: Any) -> None:
    doc = {
        "@type": "Offer",
        "permission": [
            {
                "action": "use",
                "constraint": [{"leftOperand": "odrl:purpose", "operator": spelling, "rightOperand": "research"}],
            }
        ],
    }
    constraint = parse_policy(doc).permissions[0].constraints[0]
    assert isinstance(constraint, AtomicConstraint)
    assert (constraint.left_operand, constraint.operator) == ("purpose", "eq")


@pytest.mark.parametrize(
    "action",
    [
        "use",
        "odrl:use",
        "http://www.w3.org/ns/odrl/2/use",
        {"@id": "odrl:use"},
        {"rdf:value": {"@id": "odrl:use"}},
        ["use"],
    ],
)
def test_action_spellings_normalise(action: Any) -> None:
    assert parse_policy({"@type": "Offer", "permission": [{"action": action}]}).permissions[0].action == "use"


def test_prefixed_keys_single_objects_and_json_ld_values_are_accepted() -> None:
    doc = {
        "@id": "urn:p",
        "@type": "odrl:Offer",
        "odrl:target": {"@id": "urn:t"},
        "odrl:permission": {
            "odrl:action": {"@id": "odrl:use"},
            "odrl:constraint": {
                "odrl:leftOperand": {"@id": "odrl:dateTime"},
                "odrl:operator": {"@id": "odrl:lteq"},
                "odrl:rightOperand": {"@value": "2026-12-31", "@type": "xsd:date"},
            },
        },
    }
    policy = parse_policy(doc)
    assert policy.type == "Offer" and policy.target == "urn:t"
    constraint = policy.permissions[0].constraints[0]
    assert isinstance(constraint, AtomicConstraint) and constraint.right_operand == "2026-12-31"
    assert constraint.where == "permission[0].constraint[0]"


def test_a_rule_may_repeat_the_policy_target_but_not_name_another() -> None:
    same = {"@type": "Offer", "target": "urn:t", "permission": [{"action": "use", "target": "urn:t"}]}
    assert parse_policy(same).permissions[0].action == "use"
    other = {"@type": "Offer", "target": "urn:t", "permission": [{"action": "use", "target": "urn:other"}]}
    with pytest.raises(ConnectorError) as caught:
        parse_policy(other)
    assert caught.value.where == "permission[0].target"


def test_duties_remedies_and_consequences_nest() -> None:
    doc = {
        "@type": "Set",
        "permission": [{"action": "use", "duty": [{"action": "delete", "consequence": [{"action": "inform"}]}]}],
        "prohibition": [{"action": "distribute", "remedy": [{"action": "anonymize"}]}],
        "obligation": [{"action": "compensate"}],
    }
    policy = parse_policy(doc)
    assert policy.permissions[0].duties[0].action == "delete"
    assert policy.permissions[0].duties[0].duties[0].where == "permission[0].duty[0].consequence[0]"
    assert policy.prohibitions[0].duties[0].action == "anonymize"
    assert policy.obligations[0].kind == "obligation"


def test_semantic_problems_do_not_stop_parsing() -> None:
    doc = {
        "@type": "Offer",
        "permission": [
            {"action": "use", "constraint": [{"leftOperand": "partner", "operator": "within", "rightOperand": 3}]}
        ],
    }
    constraint = parse_policy(doc).permissions[0].constraints[0]
    assert isinstance(constraint, AtomicConstraint)
    assert [p.code for p in constraint.problems] == ["policy.unknown_left_operand", "policy.unknown_operator"]


def test_a_missing_type_defaults_to_set() -> None:
    assert parse_policy({"permission": [{"action": "use"}]}).type == "Set"


@pytest.mark.parametrize(
    ("doc", "code", "where"),
    [
        ([], "policy.invalid", None),
        ({"@type": "Ticket", "permission": [{"action": "use"}]}, "policy.invalid", "@type"),
        ({"permission": [{"constraint": []}]}, "policy.missing_action", "permission[0].action"),
        ({"permission": "use"}, "policy.invalid", "permission"),
        (
            {"permission": [{"action": "use", "constraint": [{"leftOperand": "count", "operator": "eq"}]}]},
            "policy.invalid",
            "permission[0].constraint[0].rightOperand",
        ),
        (
            {"permission": [{"action": "use", "constraint": [{"and": [], "or": []}]}]},
            "policy.invalid",
            "permission[0].constraint[0]",
        ),
        (
            {
                "permission": [
                    {
                        "action": "use",
                        "constraint": [{"and": [], "leftOperand": "count", "operator": "eq", "rightOperand": 1}],
                    }
                ]
            },
            "policy.invalid",
            "permission[0].constraint[0]",
        ),
        (
            {"permission": [{"action": {"@id": "use", "refinement": []}}]},
            "policy.unsupported",
            "permission[0].action.refinement",
        ),
        (
            {
                "permission": [
                    {
                        "action": "use",
                        "constraint": [{"leftOperand": "count", "operator": "eq", "rightOperandReference": "urn:x"}],
                    }
                ]
            },
            "policy.unsupported",
            "permission[0].constraint[0].rightOperandReference",
        ),
        ({"permission": [{"action": "use", "failure": []}]}, "policy.unsupported", "permission[0].failure"),
        ({"permission": [{"action": "use", "remedy": []}]}, "policy.unsupported", "permission[0].remedy"),
        ({"inheritFrom": "urn:parent", "permission": [{"action": "use"}]}, "policy.unsupported", "inheritFrom"),
        ({"conflict": "perm", "permission": [{"action": "use"}]}, "policy.unsupported", "conflict"),
        ({"permission": [{"action": "use"}], "odrl:permission": []}, "policy.invalid", "permission"),
        ({"timestamp": "2026-01-01", "permission": [{"action": "use"}]}, "policy.invalid", "timestamp"),
        ({"target": 5, "permission": [{"action": "use"}]}, "policy.invalid", "target"),
    ],
)
def test_structural_problems_raise_a_connector_error_naming_the_field(doc: Any, code: str, where: str | None) -> None:
    with pytest.raises(ConnectorError) as caught:
        parse_policy(doc)
    assert (caught.value.code, caught.value.where) == (code, where)


def test_the_prohibit_conflict_strategy_is_accepted() -> None:
    assert parse_policy({"conflict": "odrl:prohibit", "permission": [{"action": "use"}]}).permissions


def test_deep_nesting_is_refused_not_recursed_into() -> None:
    constraint: dict[str, Any] = {"leftOperand": "count", "operator": "eq", "rightOperand": 1}
    for _ in range(5000):
        constraint = {"and": [constraint]}
    with pytest.raises(ConnectorError) as caught:
        parse_policy({"permission": [{"action": "use", "constraint": [constraint]}]})
    assert "nested too deeply" in caught.value.reason


def test_parsed_policies_are_hashable_values() -> None:
    policy = parse_policy(SPEC_AGREEMENT)
    assert hash(policy) == hash(parse_policy(json.loads(json.dumps(SPEC_AGREEMENT))))
    assert policy == parse_policy(json.loads(json.dumps(SPEC_AGREEMENT)))


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    )
)
def test_freeze_and_thaw_round_trip(value: Any) -> None:
    frozen = freeze(value)
    hash(frozen)
    assert thaw(frozen) == value


# -- arbitrary input ------------------------------------------------------------------------------------------------

KEYS = [
    "@id",
    "@type",
    "target",
    "assigner",
    "assignee",
    "permission",
    "prohibition",
    "obligation",
    "action",
    "constraint",
    "duty",
    "remedy",
    "consequence",
    "leftOperand",
    "operator",
    "rightOperand",
    "and",
    "or",
    "xone",
    "andSequence",
    "@value",
    "refinement",
    "timestamp",
    "profile",
    "odrl:permission",
    "conflict",
    "uid",
    "rdf:value",
    "dataType",
    "unit",
]
VALUES = [
    "use",
    "Offer",
    "Agreement",
    "Set",
    "eq",
    "lteq",
    "isAnyOf",
    "term-lteq",
    "dateTime",
    "count",
    "purpose",
    "membership",
    "countryOfEstablishment",
    "elapsedTime",
    "EU",
    "P30D",
    "2026-12-31",
    "",
    "odrl:use",
    "prohibit",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.sampled_from(VALUES)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=400)
@given(json_values)
def test_parsing_arbitrary_json_raises_nothing_but_connector_error(doc: Any) -> None:
    try:
        parse_policy(doc)
    except ConnectorError:
        pass


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6))
def test_parsing_arbitrary_policy_shaped_objects_raises_nothing_but_connector_error(doc: dict[str, Any]) -> None:
    try:
        parse_policy(doc)
    except ConnectorError:
        pass
