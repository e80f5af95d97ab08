"""The trace as data (to_json) and as an explanation a person reads (render_trace)."""

from __future__ import annotations

import json
from typing import Any

from connector.policy.engine import decide_contract, evaluate, parse_policy, render_trace

EU_ONLY = {
    "@id": "urn:offer:eu",
    "@type": "Offer",
    "target": "urn:ds:1",
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "countryOfEstablishment", "operator": "isPartOf", "rightOperand": "EU"},
                {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2026-12-31"},
            ],
        }
    ],
}


def jp_peer(build: Any) -> Any:
    return build.claims(country="JP", legal_name="Acme KK", issuer="did:web:authority-jp", federation="jp-dataspace")


def test_render_trace_names_rule_constraint_seen_value_source_and_outcome(build: Any) -> None:
    decision = evaluate(parse_policy(EU_ONLY), build.ctx(jp_peer(build), stage="negotiation"))
    text = render_trace(decision.trace)
    first = text.splitlines()[0]
    assert first == (
        "DENIED: permission 'use' requires countryOfEstablishment isPartOf EU (AT, BE, BG, CY, CZ, DE, ... 27 "
        "countries);"
        " the peer (Acme KK) is established in JP (source: verified credentials; verified OrganizationCredential issued"
        " by did:web:authority-jp in federation 'jp-dataspace') -> not satisfied"
    )
    lines = text.splitlines()[1:]
    assert lines[0] == "  Offer urn:offer:eu, target urn:ds:1: 'use' at the negotiation stage -> denied"
    assert lines[1] == "    permission 'use' -> not satisfied  @ permission[0]"
    assert lines[2].startswith("      countryOfEstablishment isPartOf EU (AT, BE")
    assert lines[2].endswith("-> not satisfied  @ permission[0].constraint[0]")
    assert lines[3] == (
        "      dateTime lteq 2026-12-31: the time is 2026-03-01T12:00:00Z (source: node clock; read at "
        "decision time) -> satisfied  @ permission[0].constraint[1]"
    )


def test_render_trace_of_a_permit_says_why(build: Any) -> None:
    decision = evaluate(parse_policy(EU_ONLY), build.ctx(build.claims(country="AT")))
    assert render_trace(decision.trace).splitlines()[0] == (
        "PERMITTED: permission 'use' permits 'use': all 2 constraint(s) are satisfied, and no prohibition applies"
    )


def test_constraints_that_cannot_be_evaluated_say_why(build: Any) -> None:
    doc = {
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {"leftOperand": "partner", "operator": "eq", "rightOperand": "gold"},
                    {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
                ],
            }
        ]
    }
    decision = evaluate(parse_policy(doc), build.ctx(None))
    assert decision.reasons == (
        "permission 'use' requires partner eq gold, which this node cannot evaluate: This node cannot evaluate the "
        "left operand 'partner'. -> not evaluable",
        "permission 'use' requires purpose eq research; the consumer declared no purpose (source: declared by the "
        "consumer; nothing was declared for this transfer decision) -> not evaluable",
    )
    text = render_trace(decision.trace)
    assert "partner eq gold: cannot be evaluated, This node cannot evaluate the left operand 'partner'." in text


def test_skipped_members_of_an_and_sequence_are_shown(build: Any) -> None:
    doc = {
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {
                        "andSequence": [
                            {"leftOperand": "count", "operator": "gt", "rightOperand": 5},
                            {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
                        ]
                    }
                ],
            }
        ]
    }
    text = render_trace(evaluate(parse_policy(doc), build.ctx(None)).trace)
    assert "andSequence of 2 constraint(s) -> not satisfied" in text
    assert "purpose eq research -> skipped (an earlier member of the andSequence was not satisfied)" in text


def test_trace_json_has_one_node_per_rule_and_constraint_and_survives_json(build: Any) -> None:
    decision = evaluate(parse_policy(EU_ONLY), build.ctx(jp_peer(build)))
    data = json.loads(json.dumps(decision.to_json()))
    assert data["permitted"] is False and data["reasons"] == list(decision.reasons)
    root = data["trace"]
    assert (root["kind"], root["outcome"]) == ("policy", "denied")
    (permission,) = root["children"]
    assert (permission["kind"], permission["where"], permission["outcome"]) == (
        "permission",
        "permission[0]",
        "not satisfied",
    )
    country, clock = permission["children"]
    assert country == {
        "kind": "constraint",
        "required": "countryOfEstablishment isPartOf EU (AT, BE, BG, CY, CZ, DE, ... 27 countries)",
        "outcome": "not satisfied",
        "where": "permission[0].constraint[0]",
        "seen": "the peer (Acme KK) is established in JP",
        "source": "verified credentials",
        "provenance": "verified OrganizationCredential issued by did:web:authority-jp in federation 'jp-dataspace'",
        "label": "permission 'use'",
    }
    assert clock["source"] == "node clock"


def test_a_contract_trace_shows_each_offer_and_the_evaluation(build: Any) -> None:
    offers = [
        {
            "@id": "urn:offer:strict",
            "@type": "Offer",
            "permission": [
                {"action": "use", "constraint": [{"leftOperand": "count", "operator": "lteq", "rightOperand": 1}]}
            ],
        },
        {"@id": "urn:offer:eu", "@type": "Offer", "permission": EU_ONLY["permission"]},
    ]
    requested = {**EU_ONLY, "@id": "urn:request:1"}  # answers no offer in particular: offers are tried in order
    decision = decide_contract(offers, requested, build.ctx(jp_peer(build)), dataset_id="urn:ds:1")
    text = render_trace(decision.trace)
    assert "offer urn:offer:eu -> matched (the request is at least as strict as this offer)" in text
    assert "offer urn:offer:strict -> not matched (1 difference(s))" in text
    assert "'count lteq 1' is missing or widened -> not matched" in text
    assert "Offer urn:request:1, target urn:ds:1: 'use' at the negotiation stage -> denied" in text


def test_a_denial_becomes_a_problem_for_the_wire(build: Any) -> None:
    decision = evaluate(parse_policy(EU_ONLY), build.ctx(jp_peer(build)))
    problem = decision.problem()
    assert problem is not None and problem.code == "policy.denied" and problem.reason == decision.reasons[0]
    assert evaluate(parse_policy(EU_ONLY), build.ctx(build.claims(country="DE"))).problem() is None
