"""Table tests: each left operand, its source, its operators, and what happens when its value is missing."""

from __future__ import annotations

import gc
from datetime import timedelta
from typing import Any

import pytest

from connector.policy.engine import evaluate, parse_policy
from connector.policy.operands import _claims_memo
from connector.policy.trace import NOT_EVALUABLE, NOT_SATISFIED, SATISFIED, TraceNode


def outcome(build: Any, constraint: dict[str, Any], ctx: Any) -> TraceNode:
    """The trace node of a single constraint evaluated in `ctx`."""
    decision = evaluate(parse_policy(build.policy(constraint)), ctx)
    nodes = [n for n in decision.trace.walk() if n.kind == "constraint"]
    assert len(nodes) == 1
    assert decision.permitted == (nodes[0].outcome == SATISFIED)
    return nodes[0]


# -- countryOfEstablishment ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "operator", "right", "expected"),
    [
        ("DE", "isPartOf", "EU", SATISFIED),
        ("JP", "isPartOf", "EU", NOT_SATISFIED),
        ("NO", "isPartOf", "EU", NOT_SATISFIED),
        ("NO", "isPartOf", "EEA", SATISFIED),
        ("CH", "isPartOf", "EEA", NOT_SATISFIED),
        ("TL", "isAnyOf", ["ASEAN"], SATISFIED),
        ("JP", "isAnyOf", ["EU", "JP"], SATISFIED),
        ("US", "isAnyOf", ["EU", "JP"], NOT_SATISFIED),
        ("DE", "eq", "DE", SATISFIED),
        ("DE", "eq", "EU", SATISFIED),  # a region on the right: "established in the EU"
        ("FR", "eq", "DE", NOT_SATISFIED),
        ("FR", "neq", "DE", SATISFIED),
        ("FR", "neq", "EU", NOT_SATISFIED),
        ("JP", "isNoneOf", ["EU", "US"], SATISFIED),
        ("IT", "isNoneOf", ["EU", "US"], NOT_SATISFIED),
        ("de", "isPartOf", "EU", SATISFIED),  # claims are normalised to upper case
        ("DE", "isPartOf", "eu", SATISFIED),
    ],
)
def test_country_of_establishment_against_countries_and_regions(
    build: Any, country: str, operator: str, right: Any, expected: str
) -> None:
    node = outcome(
        build, build.atom("countryOfEstablishment", operator, right), build.ctx(build.claims(country=country))
    )
    assert node.outcome == expected
    assert node.source == "verified credentials"
    assert "verified OrganizationCredential issued by did:web:authority-eu in federation 'eu-dataspace'" in (
        node.provenance or ""
    )


def test_configured_regions_are_used_for_country_rules(build: Any) -> None:
    nordics = {"NORDICS": frozenset({"DK", "FI", "IS", "NO", "SE"})}
    constraint = build.atom("countryOfEstablishment", "isPartOf", "NORDICS")
    assert outcome(build, constraint, build.ctx(build.claims(country="NO"), regions=nordics)).outcome == SATISFIED
    assert outcome(build, constraint, build.ctx(build.claims(country="DE"), regions=nordics)).outcome == NOT_SATISFIED


def test_a_region_unknown_to_the_node_is_not_evaluable(build: Any) -> None:
    node = outcome(
        build, build.atom("countryOfEstablishment", "isPartOf", "NORDICS"), build.ctx(build.claims(country="NO"))
    )
    assert node.outcome == NOT_EVALUABLE
    assert node.code == "policy.unknown_region" and "NORDICS" in node.why


@pytest.mark.parametrize(
    ("claims_kwargs", "code"),
    [
        ({}, "policy.missing_value"),  # verified, but no OrganizationCredential
        ({"country": "XX"}, "policy.bad_value"),
        ({"country": "Germany"}, "policy.bad_value"),
    ],
)
def test_country_rules_are_not_evaluable_without_a_usable_organization_credential(
    build: Any, claims_kwargs: dict[str, Any], code: str
) -> None:
    node = outcome(
        build, build.atom("countryOfEstablishment", "isNoneOf", ["JP"]), build.ctx(build.claims(**claims_kwargs))
    )
    assert node.outcome == NOT_EVALUABLE and node.code == code


def test_country_rules_are_not_evaluable_for_an_unverified_peer(build: Any) -> None:
    node = outcome(build, build.atom("countryOfEstablishment", "isNoneOf", ["JP"]), build.ctx(None))
    assert node.outcome == NOT_EVALUABLE and node.code == "policy.missing_value"
    assert node.source == "verified credentials"


def test_conflicting_organization_credentials_make_the_country_ambiguous(build: Any) -> None:
    second = build.credential("OrganizationCredential", {"countryOfEstablishment": "JP"}, ident="urn:uuid:org-2")
    node = outcome(
        build,
        build.atom("countryOfEstablishment", "isPartOf", "EU"),
        build.ctx(build.claims(country="DE", extra=(second,))),
    )
    assert node.outcome == NOT_EVALUABLE and node.code == "policy.ambiguous_value"
    assert "DE" in (node.provenance or "") and "JP" in (node.provenance or "")


def test_legal_name_is_shown_but_does_not_decide(build: Any) -> None:
    node = outcome(
        build,
        build.atom("countryOfEstablishment", "eq", "JP"),
        build.ctx(build.claims(country="JP", legal_name="Acme KK")),
    )
    assert node.outcome == SATISFIED and node.seen == "the peer (Acme KK) is established in JP"


@pytest.mark.parametrize("operator", ["hasPart", "isAllOf", "isA", "lt", "gteq"])
def test_operators_that_do_not_apply_to_one_country_are_not_evaluable(build: Any, operator: str) -> None:
    node = outcome(build, build.atom("countryOfEstablishment", operator, "EU"), build.ctx(build.claims(country="DE")))
    assert node.outcome == NOT_EVALUABLE and node.code == "policy.operator_not_applicable"


# -- membership and credentialType --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "operator", "right", "expected"),
    [
        (("eu-dataspace",), "eq", "eu-dataspace", SATISFIED),
        (("eu-dataspace", "catena"), "eq", "catena", SATISFIED),  # holds it, among others
        (("eu-dataspace", "catena"), "eq", ["catena"], NOT_SATISFIED),  # a list on the right: set equality
        (("eu-dataspace", "catena"), "eq", ["catena", "eu-dataspace"], SATISFIED),
        (("eu-dataspace",), "neq", "jp-dataspace", SATISFIED),
        (("eu-dataspace",), "isA", "eu-dataspace", SATISFIED),
        (("eu-dataspace",), "hasPart", ["eu-dataspace", "catena"], NOT_SATISFIED),
        (("eu-dataspace", "catena"), "isAllOf", ["eu-dataspace", "catena"], SATISFIED),
        (("eu-dataspace",), "isAnyOf", ["jp-dataspace", "eu-dataspace"], SATISFIED),
        ((), "isAnyOf", ["jp-dataspace", "eu-dataspace"], NOT_SATISFIED),
        (("eu-dataspace",), "isNoneOf", ["sanctioned"], SATISFIED),
        ((), "isNoneOf", ["sanctioned"], SATISFIED),
        (("eu-dataspace",), "isPartOf", ["eu-dataspace", "catena"], SATISFIED),
        (("eu-dataspace", "other"), "isPartOf", ["eu-dataspace", "catena"], NOT_SATISFIED),
        ((), "isPartOf", ["eu-dataspace"], NOT_SATISFIED),  # no membership is not "within" anything
    ],
)
def test_membership_is_the_set_of_verified_member_of_claims(
    build: Any, members: tuple[str, ...], operator: str, right: Any, expected: str
) -> None:
    node = outcome(build, build.atom("membership", operator, right), build.ctx(build.claims(members=members)))
    assert node.outcome == expected
    assert node.source == "verified credentials"


@pytest.mark.parametrize(
    "member_of", ["eu-dataspace", ["eu-dataspace"], {"id": "eu-dataspace"}, [{"@id": "eu-dataspace"}]]
)
def test_member_of_claims_may_be_strings_lists_or_objects(build: Any, member_of: Any) -> None:
    cred = build.credential("MembershipCredential", {"memberOf": member_of})
    node = outcome(build, build.atom("membership", "eq", "eu-dataspace"), build.ctx(build.claims(extra=(cred,))))
    assert node.outcome == SATISFIED
    assert "MembershipCredential issued by did:web:authority-eu" in (node.provenance or "")


def test_membership_of_an_unverified_peer_is_not_evaluable(build: Any) -> None:
    assert outcome(build, build.atom("membership", "isNoneOf", ["x"]), build.ctx(None)).outcome == NOT_EVALUABLE


@pytest.mark.parametrize(
    ("operator", "right", "expected"),
    [
        ("hasPart", "OrganizationCredential", SATISFIED),
        ("isAllOf", ["OrganizationCredential", "MembershipCredential"], SATISFIED),
        ("isAllOf", ["OrganizationCredential", "DataProcessorCredential"], NOT_SATISFIED),
        ("isAnyOf", ["DataProcessorCredential", "MembershipCredential"], SATISFIED),
        ("isNoneOf", ["DataProcessorCredential"], SATISFIED),
        ("eq", ["OrganizationCredential", "MembershipCredential"], SATISFIED),  # VerifiableCredential not counted
        ("isPartOf", ["OrganizationCredential", "MembershipCredential", "X"], SATISFIED),
    ],
)
def test_credential_type_is_the_set_of_verified_credential_types(
    build: Any, operator: str, right: Any, expected: str
) -> None:
    ctx = build.ctx(build.claims(country="DE", members=("eu-dataspace",)))
    node = outcome(build, build.atom("credentialType", operator, right), ctx)
    assert node.outcome == expected and node.source == "verified credentials"


# -- purpose -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "operator", "right", "expected"),
    [
        ("research", "eq", "research", SATISFIED),
        ("marketing", "eq", "research", NOT_SATISFIED),
        ("research", "isAnyOf", ["research", "education"], SATISFIED),
        ("research", "isPartOf", ["research", "education"], SATISFIED),
        ("marketing", "isNoneOf", ["research"], SATISFIED),
        ("marketing", "neq", "marketing", NOT_SATISFIED),
        ("Research", "eq", "research", NOT_SATISFIED),  # purposes are compared exactly
    ],
)
def test_purpose_is_what_the_consumer_declared(
    build: Any, purpose: str, operator: str, right: Any, expected: str
) -> None:
    node = outcome(build, build.atom("purpose", operator, right), build.ctx(None, purpose=purpose))
    assert node.outcome == expected and node.source == "declared by the consumer"


def test_an_undeclared_purpose_is_not_evaluable(build: Any) -> None:
    node = outcome(build, build.atom("purpose", "isNoneOf", ["marketing"]), build.ctx(None))
    assert node.outcome == NOT_EVALUABLE and node.code == "policy.missing_value"


@pytest.mark.parametrize("left", ["purpose", "odrl:purpose", "http://www.w3.org/ns/odrl/2/purpose"])
def test_odrl_core_names_are_accepted_in_every_spelling(build: Any, left: str) -> None:
    assert outcome(build, build.atom(left, "eq", "research"), build.ctx(None, purpose="research")).outcome == SATISFIED


# -- dateTime -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "right", "expected"),
    [
        ("lteq", "2026-03-01", SATISFIED),  # a date on the right means that whole day
        ("lt", "2026-03-01", NOT_SATISFIED),
        ("eq", "2026-03-01", SATISFIED),
        ("neq", "2026-03-01", NOT_SATISFIED),
        ("gt", "2026-02-28", SATISFIED),
        ("gt", "2026-03-01", NOT_SATISFIED),
        ("gteq", "2026-03-01T12:00:00Z", SATISFIED),
        ("gt", "2026-03-01T12:00:00Z", NOT_SATISFIED),
        ("lteq", "2026-03-01T13:00:00+02:00", NOT_SATISFIED),  # 11:00 UTC
        ("lteq", "2023-12-31T06:00Z", NOT_SATISFIED),
    ],
)
def test_date_time_compares_the_node_clock(build: Any, operator: str, right: str, expected: str) -> None:
    node = outcome(build, build.atom("dateTime", operator, right), build.ctx(None))  # now = 2026-03-01T12:00Z
    assert node.outcome == expected
    assert node.source == "node clock" and node.seen == "the time is 2026-03-01T12:00:00Z"


# -- count -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("use_count", "expected"), [(0, SATISFIED), (2, SATISFIED), (3, NOT_SATISFIED)])
def test_count_at_transfer_includes_the_transfer_being_decided(build: Any, use_count: int, expected: str) -> None:
    node = outcome(build, build.atom("count", "lteq", 3), build.ctx(None, use_count=use_count))
    assert node.outcome == expected
    assert node.source == "agreement usage record"
    assert node.seen == f"this transfer would be use {use_count + 1} of the agreement"


@pytest.mark.parametrize("stage", ["catalog", "negotiation"])
def test_count_before_an_agreement_is_the_prospective_first_use(build: Any, stage: str) -> None:
    ctx = build.ctx(None, stage=stage, use_count=7)
    assert outcome(build, build.atom("count", "lteq", "1"), ctx).outcome == SATISFIED
    assert outcome(build, build.atom("count", "lt", 1), build.ctx(None, stage=stage)).outcome == NOT_SATISFIED


# -- elapsedTime -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "operator", "right", "expected"),
    [
        (timedelta(days=29), "lteq", "P30D", SATISFIED),
        (timedelta(days=31), "lteq", "P30D", NOT_SATISFIED),
        (timedelta(days=30), "lt", "P30D", NOT_SATISFIED),
        (timedelta(days=30), "eq", "P30D", SATISFIED),  # ODRL: eq grants the window
        (timedelta(days=31), "eq", "P30D", NOT_SATISFIED),
        (timedelta(hours=2), "gteq", "PT1H", SATISFIED),
        (timedelta(days=28), "lteq", "P1M", SATISFIED),  # agreed 2026-02-01, a month later is 2026-03-01
        (timedelta(days=28, seconds=1), "lteq", "P1M", NOT_SATISFIED),
    ],
)
def test_elapsed_time_counts_from_the_agreement(
    build: Any, age: timedelta, operator: str, right: str, expected: str
) -> None:
    ctx = build.ctx(None, agreement_time=build.now - age)
    node = outcome(build, build.atom("elapsedTime", operator, right), ctx)
    assert node.outcome == expected
    assert node.source == "agreement timestamp and node clock"


def test_elapsed_time_at_transfer_needs_the_agreement_time(build: Any) -> None:
    node = outcome(build, build.atom("elapsedTime", "lteq", "P30D"), build.ctx(None))
    assert node.outcome == NOT_EVALUABLE and node.code == "policy.missing_value"


def test_elapsed_time_before_an_agreement_is_zero(build: Any) -> None:
    ctx = build.ctx(None, stage="negotiation")
    assert outcome(build, build.atom("elapsedTime", "lteq", "PT1S"), ctx).outcome == SATISFIED
    assert outcome(build, build.atom("elapsedTime", "gt", "PT0S"), ctx).outcome == NOT_SATISFIED


def test_neq_does_not_apply_to_elapsed_time(build: Any) -> None:
    node = outcome(build, build.atom("elapsedTime", "neq", "P1D"), build.ctx(None, agreement_time=build.now))
    assert node.code == "policy.operator_not_applicable"


# -- anything else ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraint", "code"),
    [
        ({"leftOperand": "spatial", "operator": "eq", "rightOperand": "_:EU"}, "policy.unknown_left_operand"),
        ({"leftOperand": "partner", "operator": "eq", "rightOperand": "gold"}, "policy.unknown_left_operand"),
        ({"leftOperand": "purpose", "operator": "within", "rightOperand": "x"}, "policy.unknown_operator"),
        ({"leftOperand": "purpose", "operator": "term-lteq", "rightOperand": "x"}, "policy.unsupported_operator"),
        ({"leftOperand": "count", "operator": "lteq", "rightOperand": "many"}, "policy.bad_right_operand"),
        ({"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "soon"}, "policy.bad_right_operand"),
    ],
)
def test_constraints_the_node_cannot_evaluate_name_why(build: Any, constraint: dict[str, Any], code: str) -> None:
    node = outcome(build, constraint, build.ctx(build.claims(country="DE"), purpose="x"))
    assert node.outcome == NOT_EVALUABLE and node.code == code


def test_values_read_from_credentials_are_forgotten_with_their_claims(build: Any) -> None:
    claims = build.claims(country="DE")
    key = id(claims)
    outcome(build, build.atom("countryOfEstablishment", "eq", "DE"), build.ctx(claims))
    assert key in _claims_memo
    del claims
    gc.collect()
    assert key not in _claims_memo  # a later claims object at the same address starts afresh


# -- registeredIn, legalEntity -----------------------------------------------------------------------------------


def _registered(build: Any, country: str = "JP", identifier: str = "4010001123456") -> Any:
    registry = "jp-corporate-number" if len(identifier) == 13 else "lei"
    subject = {
        "countryOfEstablishment": country,
        "legalName": "川崎データ流通株式会社",
        "legalAddress": {"streetAddress": "1-2-3 Marunouchi", "locality": "Chiyoda ku", "countryCode": country},
        "registration": {
            "registry": registry,
            "identifier": identifier,
            "checkedAt": "2026-03-01T09:00:00Z",
            "source": {"name": "00_zenkoku_all_20260228.csv", "sha256": "ab" * 32, "published": "2026-02-28"},
        },
    }
    return build.claims(extra=(build.credential("OrganizationCredential", subject),))


@pytest.mark.parametrize(
    ("left", "operator", "right", "expected"),
    [
        ("registeredIn", "eq", "JP", SATISFIED),
        ("registeredIn", "isAnyOf", ["EU", "JP"], SATISFIED),
        ("registeredIn", "isPartOf", "EU", NOT_SATISFIED),
        ("legalEntity", "isAnyOf", ["jp-corporate-number:4010001123456", "lei:529900RHEINDATA00060"], SATISFIED),
        ("legalEntity", "eq", "jp-corporate-number:4010001123456", SATISFIED),
        ("legalEntity", "isNoneOf", ["jp-corporate-number:4010001123456"], NOT_SATISFIED),
        ("legalEntity", "isAnyOf", ["lei:529900RHEINDATA00060"], NOT_SATISFIED),
    ],
)
def test_registry_facts_against_countries_and_lists_of_legal_entities(
    build: Any, left: str, operator: str, right: Any, expected: str
) -> None:
    node = outcome(build, build.atom(left, operator, right), build.ctx(_registered(build)))
    assert node.outcome == expected
    assert "registry jp-corporate-number:4010001123456, checked against 00_zenkoku_all_20260228.csv" in (
        node.provenance or ""
    )
    assert "2026-03-01T09:00:00Z" in (node.provenance or "")


def test_registry_facts_that_are_missing_are_not_evaluable(build: Any) -> None:
    # An OrganizationCredential its issuer did not check against a registry states a country, not a registration.
    node = outcome(build, build.atom("registeredIn", "eq", "DE"), build.ctx(build.claims(country="DE")))
    assert node.outcome == NOT_EVALUABLE and node.code == "policy.missing_value"
    node = outcome(build, build.atom("legalEntity", "isAnyOf", ["lei:x"]), build.ctx(None))
    assert node.outcome == NOT_EVALUABLE


def test_two_registrations_that_disagree_are_not_evaluable(build: Any) -> None:
    one = _registered(build).credentials
    other = _registered(build, identifier="1010001654321").credentials
    claims = build.claims(
        extra=one + tuple(build.credential("OrganizationCredential", dict(c.subject), ident="x") for c in other)
    )
    node = outcome(build, build.atom("legalEntity", "eq", "jp-corporate-number:4010001123456"), build.ctx(claims))
    assert node.outcome == NOT_EVALUABLE and node.code == "policy.ambiguous_value"
