"""narrowing(offer, requested): examples, refusals, and soundness against evaluation in every sampled context."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.policy.engine import DecisionContext, narrowing, parse_policy
from connector.policy.evaluate import evaluate_constraint
from connector.policy.model import Constraint
from connector.policy.trace import SATISFIED
from connector.trust.claims import VerifiedClaims, VerifiedCredential

UTC = UTC
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def constraint(doc: dict[str, Any]) -> Constraint:
    return parse_policy({"permission": [{"action": "use", "constraint": [doc]}]}).permissions[0].constraints[0]


def atom(left: str, operator: str, right: Any) -> Constraint:
    return constraint({"leftOperand": left, "operator": operator, "rightOperand": right})


NARROWER = [
    (atom("dateTime", "lteq", "2026-12-31"), atom("dateTime", "lteq", "2026-06-30")),
    (atom("dateTime", "lteq", "2026-12-31"), atom("dateTime", "lt", "2026-12-31T12:00Z")),
    (atom("dateTime", "lteq", "2026-12-31"), atom("dateTime", "eq", "2026-12-31")),
    (atom("dateTime", "gteq", "2026-01-01T00:00:00Z"), atom("dateTime", "gt", "2025-12-31")),
    (atom("count", "lteq", 5), atom("count", "lteq", 3)),
    (atom("count", "lteq", 5), atom("count", "lt", "6")),
    (atom("count", "lteq", 5), atom("count", "eq", 1)),
    (atom("count", "neq", 4), atom("count", "lt", 4)),
    (atom("elapsedTime", "lteq", "P30D"), atom("elapsedTime", "lteq", "P7D")),
    (atom("elapsedTime", "lteq", "P30D"), atom("elapsedTime", "eq", "PT720H")),
    (atom("elapsedTime", "lteq", "P1M"), atom("elapsedTime", "lt", "P28D")),
    (atom("elapsedTime", "gteq", "PT1H"), atom("elapsedTime", "gt", "PT1H")),
    (atom("membership", "isAnyOf", ["a", "b", "c"]), atom("membership", "isAnyOf", ["a", "b"])),
    (atom("membership", "isAnyOf", ["a", "b", "c"]), atom("membership", "eq", "a")),
    (atom("membership", "isAnyOf", ["a", "b", "c"]), atom("membership", "isAllOf", ["a", "x"])),
    (atom("membership", "hasPart", "a"), atom("membership", "isAllOf", ["a", "b"])),
    (atom("membership", "isNoneOf", ["x"]), atom("membership", "isNoneOf", ["x", "y"])),
    (atom("membership", "isPartOf", ["a", "b"]), atom("membership", "isPartOf", ["a"])),
    (atom("credentialType", "neq", ["A"]), atom("credentialType", "hasPart", "B")),
    (atom("purpose", "isAnyOf", ["research", "education"]), atom("purpose", "eq", "research")),
    (atom("purpose", "isNoneOf", ["marketing"]), atom("purpose", "eq", "research")),
    (atom("purpose", "neq", "marketing"), atom("purpose", "isNoneOf", ["marketing", "sales"])),
    (atom("countryOfEstablishment", "isPartOf", "EEA"), atom("countryOfEstablishment", "isPartOf", "EU")),
    (atom("countryOfEstablishment", "isPartOf", "EEA"), atom("countryOfEstablishment", "eq", "DE")),
    (atom("countryOfEstablishment", "isNoneOf", ["US"]), atom("countryOfEstablishment", "isPartOf", "EU")),
    (atom("countryOfEstablishment", "eq", "eu"), atom("countryOfEstablishment", "isAnyOf", ["DE", "FR"])),
    (atom("partner", "eq", "gold"), atom("partner", "eq", "gold")),  # equal, even if not evaluable
]


@pytest.mark.parametrize(("offered", "requested"), NARROWER)
def test_narrower_or_equal_requests(offered: Constraint, requested: Constraint) -> None:
    assert narrowing(offered, requested)


NOT_NARROWER = [
    (atom("dateTime", "lteq", "2026-06-30"), atom("dateTime", "lteq", "2026-12-31")),
    (atom("dateTime", "lt", "2026-12-31"), atom("dateTime", "lteq", "2026-12-31")),  # lteq a date takes the whole day
    (atom("count", "lteq", 3), atom("count", "lteq", 5)),
    (atom("count", "lteq", 3), atom("count", "neq", 4)),
    (atom("elapsedTime", "lteq", "P30D"), atom("elapsedTime", "lteq", "P1M")),  # a month can be 31 days
    (atom("elapsedTime", "lteq", "P30D"), atom("elapsedTime", "gteq", "P1D")),
    (atom("membership", "isAnyOf", ["a", "b"]), atom("membership", "isAnyOf", ["a", "b", "c"])),
    (atom("membership", "isAllOf", ["a", "b"]), atom("membership", "isAnyOf", ["a", "b"])),
    (atom("membership", "isPartOf", ["a"]), atom("membership", "hasPart", "a")),
    (atom("purpose", "eq", "research"), atom("purpose", "isAnyOf", ["research", "education"])),
    (atom("purpose", "eq", "research"), atom("purpose", "isNoneOf", ["marketing"])),
    (atom("countryOfEstablishment", "isPartOf", "EU"), atom("countryOfEstablishment", "isPartOf", "EEA")),
    (atom("countryOfEstablishment", "isPartOf", "EU"), atom("countryOfEstablishment", "isPartOf", "NORDICS")),
    (atom("purpose", "eq", "research"), atom("count", "lteq", 1)),  # another left operand
    (atom("partner", "eq", "gold"), atom("partner", "eq", "silver")),
    (atom("count", "lteq", 5), constraint({"and": []})),
]


@pytest.mark.parametrize(("offered", "requested"), NOT_NARROWER)
def test_requests_that_cannot_be_proved_narrower(offered: Constraint, requested: Constraint) -> None:
    assert not narrowing(offered, requested)


def test_configured_regions_take_part_in_narrowing() -> None:
    nordics = {"NORDICS": frozenset({"DK", "FI", "SE"})}
    assert narrowing(
        atom("countryOfEstablishment", "isPartOf", "EU"), atom("countryOfEstablishment", "isPartOf", "NORDICS"), nordics
    )


def test_logical_constraints_narrow_member_by_member() -> None:
    window = constraint(
        {
            "and": [
                {"leftOperand": "dateTime", "operator": "gteq", "rightOperand": "2026-01-01"},
                {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2026-12-31"},
            ]
        }
    )
    inside = constraint(
        {
            "and": [
                {"leftOperand": "dateTime", "operator": "gteq", "rightOperand": "2026-02-01"},
                {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2026-11-30"},
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
            ]
        }
    )
    assert narrowing(window, inside)
    assert not narrowing(inside, window)
    either = constraint(
        {
            "or": [
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": "education"},
            ]
        }
    )
    assert narrowing(either, atom("purpose", "eq", "education"))
    assert narrowing(atom("purpose", "isAnyOf", ["research", "education"]), either)
    assert not narrowing(atom("purpose", "eq", "research"), either)
    sequence = constraint({"andSequence": [{"leftOperand": "count", "operator": "lteq", "rightOperand": 9}]})
    assert narrowing(atom("count", "lteq", 10), sequence)


def test_an_or_offer_with_a_member_the_node_cannot_evaluate_is_only_matched_exactly() -> None:
    offered = constraint(
        {
            "or": [
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
                {"leftOperand": "partner", "operator": "eq", "rightOperand": "gold"},
            ]
        }
    )
    assert not narrowing(offered, atom("purpose", "eq", "research"))
    assert narrowing(offered, offered)


# -- soundness: whenever the request holds, the offer holds ----------------------------------------------------------


def _claims(countries: tuple[str, ...], members: frozenset[str]) -> VerifiedClaims:
    creds = [
        VerifiedCredential(
            f"urn:org:{c}", ("OrganizationCredential",), "did:web:a", "f", {"countryOfEstablishment": c}, NOW, None, ""
        )
        for c in countries[:1]
    ]
    creds += [
        VerifiedCredential(
            f"urn:m:{m}", ("MembershipCredential", f"T{m}"), "did:web:a", "f", {"memberOf": m}, NOW, None, ""
        )
        for m in sorted(members)
    ]
    return VerifiedClaims("did:web:peer", NOW, tuple(creds))


WORDS = ["a", "b", "c", "d"]
SUBSETS = [frozenset(c) for n in range(len(WORDS) + 1) for c in itertools.combinations(WORDS, n)]
COUNTRIES = ["DE", "NO", "CH", "JP", "TL", "US"]
PLACES = ["EU", "EEA", "ASEAN", "G7", "DE", "NO", "JP", "US"]


def contexts(kind: str) -> list[DecisionContext]:
    if kind == "set":
        return [DecisionContext(_claims((), s), NOW) for s in SUBSETS]
    if kind == "place":
        return [DecisionContext(_claims((c,), frozenset()), NOW) for c in COUNTRIES]
    if kind == "term":
        return [DecisionContext(None, NOW, purpose=w) for w in WORDS + ["z"]]
    if kind == "count":
        return [DecisionContext(None, NOW, use_count=n) for n in range(0, 14)]
    if kind == "dateTime":
        return [DecisionContext(None, NOW + timedelta(hours=h)) for h in range(-60, 61, 3)]
    return [DecisionContext(None, NOW, agreement_time=NOW - timedelta(days=d)) for d in range(0, 70, 2)]


def _right(kind: str) -> st.SearchStrategy[Any]:
    if kind == "set":
        return st.one_of(st.sampled_from(WORDS), st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
    if kind == "term":
        return st.one_of(st.sampled_from(WORDS), st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
    if kind == "place":
        return st.one_of(st.sampled_from(PLACES), st.lists(st.sampled_from(PLACES), min_size=1, max_size=3))
    if kind == "count":
        return st.integers(0, 12)
    if kind == "dateTime":
        return st.one_of(
            st.sampled_from(["2026-02-28", "2026-03-01", "2026-03-02", "2026-03-03"]),
            st.integers(-50, 50).map(lambda h: (NOW + timedelta(hours=h)).isoformat()),
        )
    return st.sampled_from(["P1D", "P7D", "P28D", "P30D", "P31D", "P1M", "P2M", "PT36H", "P1M2D", "P0D"])


LEFT = {
    "set": "membership",
    "term": "purpose",
    "place": "countryOfEstablishment",
    "count": "count",
    "dateTime": "dateTime",
    "duration": "elapsedTime",
}
OPS = {
    "set": ["eq", "neq", "isA", "hasPart", "isAllOf", "isAnyOf", "isNoneOf", "isPartOf"],
    "term": ["eq", "neq", "isAnyOf", "isPartOf", "isNoneOf"],
    "place": ["eq", "neq", "isAnyOf", "isPartOf", "isNoneOf"],
    "count": ["eq", "neq", "lt", "lteq", "gt", "gteq"],
    "dateTime": ["eq", "neq", "lt", "lteq", "gt", "gteq"],
    "duration": ["eq", "lt", "lteq", "gt", "gteq"],
}


@st.composite
def pairs(draw: st.DrawFn) -> tuple[str, Constraint, Constraint]:
    kind = draw(st.sampled_from(sorted(LEFT)))

    def one() -> Constraint:
        inner = {
            "leftOperand": LEFT[kind],
            "operator": draw(st.sampled_from(OPS[kind])),
            "rightOperand": draw(_right(kind)),
        }
        if draw(st.integers(0, 4)) == 0:  # sometimes wrap pairs of constraints in a logical group
            other = {
                "leftOperand": LEFT[kind],
                "operator": draw(st.sampled_from(OPS[kind])),
                "rightOperand": draw(_right(kind)),
            }
            return constraint({draw(st.sampled_from(["and", "or", "xone", "andSequence"])): [inner, other]})
        return constraint(inner)

    return kind, one(), one()


def holds(c: Constraint, ctx: DecisionContext) -> bool:
    return evaluate_constraint(c, "permission 'use'", ctx).outcome == SATISFIED


@settings(max_examples=600)
@given(pairs())
def test_narrowing_is_sound_in_every_context(pair: tuple[str, Constraint, Constraint]) -> None:
    kind, offered, requested = pair
    if narrowing(offered, requested):
        for ctx in contexts(kind):
            if holds(requested, ctx):
                assert holds(offered, ctx), (ctx, offered, requested)


@given(pairs())
def test_every_constraint_narrows_itself(pair: tuple[str, Constraint, Constraint]) -> None:
    _, offered, _ = pair
    assert narrowing(offered, offered)
