"""Left operands that keep their meaning through JSON-LD expansion, the purpose a consumer declares, and rule
members that carry no policy meaning.

The oracle for "survives expansion" is the IRI expansion of a value of a ``@vocab``-typed term (JSON-LD 1.1 API,
IRI Expansion with vocab = true), applied with the two vendored DSP 2025-1 contexts: a defined term maps to its
IRI, ``prefix:suffix`` with a declared prefix to the prefix's IRI plus the suffix, an absolute IRI to itself; a bare
word these contexts do not define has no vocabulary meaning (with no ``@vocab``, it would be resolved against the
document's base).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import connector.dsp
from connector.errors import ConnectorError
from connector.policy.engine import decide_access, declare_purpose, declared_purpose, parse_policy, wire_policy
from connector.policy.vocabulary import left_operand_name

CONTEXTS = Path(connector.dsp.__file__).parent / "spec" / "context"
ODRL = "http://www.w3.org/ns/odrl/2/"
OWN = "https://w3id.org/connector/policy/"


def _definitions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in ("dspace.jsonld", "odrl.jsonld"):
        context = json.loads((CONTEXTS / name).read_text())["@context"]
        for term, value in context.items():
            iri = value if isinstance(value, str) else value.get("@id") if isinstance(value, dict) else None
            if isinstance(iri, str) and not term.startswith("@"):
                found[term] = iri
    return found


def expand_vocab(value: str) -> str | None:
    """The IRI a @vocab-typed value expands to with the DSP contexts, or None when it has no vocabulary meaning."""
    terms = _definitions()
    if value in terms:
        return _absolute(terms[value], terms)
    prefix, sep, suffix = value.partition(":")
    if sep and not suffix.startswith("//") and prefix in terms:
        return _absolute(terms[prefix], terms) + suffix
    if sep and suffix.startswith("//"):
        return value
    return None


def _absolute(iri: str, terms: dict[str, str]) -> str:
    prefix, sep, suffix = iri.partition(":")
    return terms[prefix] + suffix if sep and prefix in terms and not suffix.startswith("//") else iri


def _left_operands(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["leftOperand"]] if isinstance(value.get("leftOperand"), str) else []
        return found + [x for v in value.values() for x in _left_operands(v)]
    if isinstance(value, list):
        return [x for v in value for x in _left_operands(v)]
    return []


OFFER = {
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "membership", "operator": "eq", "rightOperand": "urn:dataspace:eu"},
                {"leftOperand": "countryOfEstablishment", "operator": "isPartOf", "rightOperand": "EU"},
                {
                    "or": [
                        {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
                        {"leftOperand": "credentialType", "operator": "hasPart", "rightOperand": ["X"]},
                    ]
                },
                {"leftOperand": "count", "operator": "lteq", "rightOperand": 2},
                {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2030-01-01"},
                {"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "P30D"},
            ],
        }
    ],
    "prohibition": [
        {"action": "distribute", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "ads"}]}
    ],
}


def test_the_bare_names_mean_nothing_after_expansion() -> None:
    assert [expand_vocab(name) for name in _left_operands(OFFER)] == [None] * 8


def test_what_this_node_writes_expands_to_odrl_and_its_own_namespace() -> None:
    written = _left_operands(wire_policy(OFFER))
    assert [expand_vocab(name) for name in written] == [
        OWN + "membership",
        OWN + "countryOfEstablishment",
        ODRL + "purpose",
        OWN + "credentialType",
        ODRL + "count",
        ODRL + "dateTime",
        ODRL + "elapsedTime",
        ODRL + "purpose",
    ]


def test_respelling_changes_nothing_else_and_nothing_of_the_meaning(build) -> None:
    written = wire_policy(OFFER)
    assert json.dumps(written).replace("odrl:", "").replace(OWN, "") == json.dumps(OFFER)
    claims = build.claims(country="FR", members=("urn:dataspace:eu",))
    for policy in (OFFER, written):
        decision = decide_access({"@type": "Set", **policy}, build.ctx(claims))
        assert not decision.permitted  # purpose is not declared when browsing: the same answer both ways
    assert parse_policy(written).left_operands == parse_policy(OFFER).left_operands


@pytest.mark.parametrize(
    ("spelled", "name"),
    [
        ("purpose", "purpose"),
        ("odrl:purpose", "purpose"),
        (ODRL + "count", "count"),
        ("https://www.w3.org/ns/odrl/2/dateTime", "dateTime"),
        (OWN + "membership", "membership"),
        (OWN + "countryOfEstablishment", "countryOfEstablishment"),
        ("membership", "membership"),
        # not ODRL's, not ours: unknown, so any decision that depends on it is a denial
        ("odrl:membership", "odrl:membership"),
        (OWN + "purpose", OWN + "purpose"),
        ("https://w3id.org/catenax/policy/Membership", "https://w3id.org/catenax/policy/Membership"),
    ],
)
def test_peers_spellings_are_read(spelled: str, name: str) -> None:
    assert left_operand_name(spelled) == name


def test_a_policy_in_expanded_spellings_decides_as_the_bare_one(build) -> None:
    claims = build.claims(country="DE", members=("urn:dataspace:eu",))
    bare = build.policy(
        build.atom("membership", "eq", "urn:dataspace:eu"), build.atom("countryOfEstablishment", "eq", "DE")
    )
    expanded = build.policy(
        build.atom(OWN + "membership", "eq", "urn:dataspace:eu"),
        build.atom({"@id": OWN + "countryOfEstablishment"}, "odrl:eq", "DE"),
    )
    for policy in (bare, expanded):
        assert decide_access(policy, build.ctx(claims)).permitted


def test_an_operand_of_another_vocabulary_denies_naming_it(build) -> None:
    policy = build.policy(build.atom("https://w3id.org/catenax/policy/Membership", "eq", "active"))
    decision = decide_access(policy, build.ctx(build.claims(members=("x",))))
    assert not decision.permitted
    assert "https://w3id.org/catenax/policy/Membership" in " ".join(decision.reasons)


# --- the purpose the consumer declares -----------------------------------------------------------------------------


def test_a_declared_purpose_is_a_constraint_on_each_permission_that_expands(build) -> None:
    offer = {"@id": "o", "target": "d", "permission": [{"action": "use"}, {"action": "read", "constraint": []}]}
    declared = declare_purpose(offer, "research")
    assert declared_purpose(declared) == "research"
    for permission in declared["permission"]:
        (constraint,) = permission["constraint"]
        assert expand_vocab(constraint["leftOperand"]) == ODRL + "purpose"
        assert (constraint["operator"], constraint["rightOperand"]) == ("eq", "research")
    assert offer["permission"] == [{"action": "use"}, {"action": "read", "constraint": []}]  # not changed in place


def test_a_declared_purpose_narrows_the_offer_and_is_what_the_provider_decides_with(build) -> None:
    from connector.policy.engine import decide_contract

    offer = build.policy(build.atom("purpose", "isAnyOf", ["research", "public-health"]), uid="urn:offer:1")
    claims = build.claims()
    for purpose, permitted in (("research", True), ("marketing", False)):
        requested = declare_purpose(wire_policy(offer), purpose)
        decision = decide_contract([offer], requested, build.ctx(claims), dataset_id="urn:ds:1")
        assert decision.permitted is permitted, decision.reasons
        if not permitted:
            assert any("marketing" in r for r in decision.reasons)


# --- members of a rule without policy meaning --------------------------------------------------------------------


def test_members_without_policy_meaning_are_tolerated_in_a_permission(build) -> None:
    policy = build.policy()
    policy["permission"][0].update(
        {"title": "Use it", "dct:description": "for the example", "https://example.com/ext#note": {"a": 1}}
    )
    assert decide_access(policy, build.ctx(build.claims())).permitted


@pytest.mark.parametrize("member", ["failure", "relation", "function", "odrl:output", "remedy"])
def test_odrl_rule_members_this_engine_does_not_implement_still_refuse(build, member: str) -> None:
    policy = build.policy()
    policy["permission"][0][member] = [{"action": "delete"}]
    with pytest.raises(ConnectorError) as err:
        parse_policy(policy)
    assert err.value.code == "policy.unsupported"


def test_an_unknown_constraint_member_is_still_refused_and_an_unknown_operand_still_denies(build) -> None:
    policy = build.policy({"leftOperand": "purpose", "operator": "eq", "rightOperand": "x", "foo": 1})
    with pytest.raises(ConnectorError):
        parse_policy(policy)
    decision = decide_access(build.policy(build.atom("shoeSize", "eq", "42")), build.ctx(build.claims()))
    assert not decision.permitted and "shoeSize" in " ".join(decision.reasons)
