"""Whatever a peer sends that parses, every decision function returns a value: no exception escapes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import ConnectorError
from connector.policy.engine import (
    compare_agreement,
    decide_access,
    decide_contract,
    decide_transfer,
    evaluate,
    narrowing,
    parse_policy,
    policy_sha256,
    render_trace,
    validate_policy,
)

LEFT = [
    "membership",
    "credentialType",
    "countryOfEstablishment",
    "purpose",
    "dateTime",
    "count",
    "elapsedTime",
    "odrl:count",
    "partner",
    "spatial",
]
OPERATORS = [
    "eq",
    "neq",
    "lt",
    "lteq",
    "gt",
    "gteq",
    "isA",
    "hasPart",
    "isAllOf",
    "isAnyOf",
    "isNoneOf",
    "isPartOf",
    "term-lteq",
    "odrl:isAnyOf",
    "matches",
]
RIGHT = st.one_of(
    st.sampled_from(
        [
            "EU",
            "EEA",
            "DE",
            "JP",
            "ATLANTIS",
            "research",
            "2026-12-31",
            "2026-03-01T12:00Z",
            "P30D",
            "PT1H",
            "P1M",
            "5",
            "-1",
            "",
            "eu-dataspace",
            "MembershipCredential",
        ]
    ),
    st.integers(-3, 10),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.sampled_from(["EU", "DE", "research", "a", "b", 3]), max_size=3),
    st.fixed_dictionaries({"@value": st.sampled_from(["2026-12-31", "5", "P1D"])}),
)
atoms = st.builds(
    lambda left, op, right: {"leftOperand": left, "operator": op, "rightOperand": right},
    st.sampled_from(LEFT),
    st.sampled_from(OPERATORS),
    RIGHT,
)
constraints = st.recursive(
    atoms,
    lambda inner: st.dictionaries(
        st.sampled_from(["and", "or", "xone", "andSequence"]), st.lists(inner, max_size=3), min_size=1, max_size=1
    ),
    max_leaves=8,
)
rules = st.fixed_dictionaries(
    {"action": st.sampled_from(["use", "odrl:use", "read", "transfer", "distribute"])},
    optional={
        "constraint": st.lists(constraints, max_size=3),
        "duty": st.lists(st.just({"action": "delete"}), max_size=1),
    },
)
policies = st.fixed_dictionaries(
    {
        "@id": st.sampled_from(["urn:a", "urn:b"]),
        "@type": st.sampled_from(["Offer", "Agreement", "Set"]),
        "target": st.just("urn:ds:1"),
    },
    optional={
        "permission": st.lists(rules, max_size=3),
        "prohibition": st.lists(rules, max_size=2),
        "assignee": st.sampled_from(["did:web:localhost%3A8444:org-b", "did:web:other"]),
        "assigner": st.just("did:web:provider"),
        "timestamp": st.just("2026-02-01T00:00:00Z"),
    },
)


@settings(max_examples=150)
@given(policies, policies, st.sampled_from(["catalog", "negotiation", "transfer"]))
def test_every_decision_function_returns_a_value(
    build: Any, first: dict[str, Any], second: dict[str, Any], stage: str
) -> None:
    ctx = build.ctx(
        build.claims(country="DE", members=("eu-dataspace",)),
        purpose="research",
        stage=stage,
        use_count=2,
        agreement_time=build.now,
    )
    validate_policy(first)
    try:
        parsed = parse_policy(first)
    except ConnectorError:
        return
    decision = evaluate(parsed, ctx)
    assert decision.reasons and render_trace(decision.trace)
    assert decide_access(first, ctx).reasons
    assert decide_transfer(first, ctx).reasons
    assert decide_contract([first, second], second, ctx, dataset_id="urn:ds:1").reasons
    compare_agreement(first, second, "did:web:provider", "did:web:localhost%3A8444:org-b")
    for offered in (c for r in parsed.permissions for c in r.constraints):
        for requested in (c for r in parsed.permissions for c in r.constraints):
            narrowing(offered, requested)
    try:
        policy_sha256(first)
    except ConnectorError as exc:
        assert exc.code == "policy.not_canonical"


def test_a_policy_without_a_canonical_form_cannot_be_hashed() -> None:
    with pytest.raises(ConnectorError) as caught:
        policy_sha256(
            {
                "permission": [
                    {
                        "action": "use",
                        "constraint": [{"leftOperand": "count", "operator": "eq", "rightOperand": float("nan")}],
                    }
                ]
            }
        )
    assert caught.value.code == "policy.not_canonical"
