"""The decision seam: access, contract, transfer, agreement comparison, hashing."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from connector.canonical import json_sha256
from connector.policy.engine import (
    compare_agreement,
    decide_access,
    decide_contract,
    decide_transfer,
    declared_purpose,
    parse_policy,
    policy_sha256,
)


def atom(left: str, operator: str, right: Any) -> dict[str, Any]:
    return {"leftOperand": left, "operator": operator, "rightOperand": right}


EU_RESEARCH = [
    atom("countryOfEstablishment", "isPartOf", "EU"),
    atom("purpose", "isAnyOf", ["research", "education"]),
    atom("dateTime", "lteq", "2026-12-31"),
    atom("count", "lteq", 5),
]


def catalogue_offer(
    uid: str = "urn:offer:eu", constraints: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """An offer as listed in a catalogue: no target (the dataset is the target)."""
    return {
        "@id": uid,
        "@type": "Offer",
        "permission": [{"action": "use", "constraint": list(EU_RESEARCH if constraints is None else constraints)}],
        **extra,
    }


def request(
    constraints: list[dict[str, Any]], uid: str = "urn:offer:eu", target: str = "urn:ds:1", **extra: Any
) -> dict[str, Any]:
    return {
        "@id": uid,
        "@type": "Offer",
        "target": target,
        "permission": [{"action": "use", "constraint": constraints}],
        **extra,
    }


# -- access --------------------------------------------------------------------------------------------------------


def test_access_evaluates_the_access_policy_at_the_catalog_stage(build: Any) -> None:
    access = {
        "@id": "urn:access",
        "@type": "Set",
        "permission": [
            {"action": "use", "constraint": [atom("membership", "eq", "eu-dataspace"), atom("count", "lteq", 1)]}
        ],
    }
    member = build.ctx(build.claims(members=("eu-dataspace",)), use_count=40)  # stage and count are not used
    decision = decide_access(access, member)
    assert decision.permitted and "at the catalog stage" in decision.trace.required
    assert not decide_access(access, build.ctx(build.claims(members=("jp-dataspace",)))).permitted
    assert not decide_access(access, build.ctx(None)).permitted


def test_access_accepts_parsed_policies_and_refuses_invalid_ones(build: Any) -> None:
    parsed = parse_policy({"permission": [{"action": "use"}]})
    assert decide_access(parsed, build.ctx(None)).permitted
    refused = decide_access({"permission": [{"constraint": []}]}, build.ctx(None))
    assert not refused.permitted and refused.reasons[0].startswith("the access policy is invalid")


# -- contract ---------------------------------------------------------------------------------------------------------


def test_an_identical_request_is_agreed_naming_the_offer(build: Any) -> None:
    ctx = build.ctx(build.claims(country="DE"), purpose="research", stage="negotiation")
    decision = decide_contract([catalogue_offer()], request(EU_RESEARCH), ctx, dataset_id="urn:ds:1")
    assert decision.permitted, decision.reasons
    assert decision.matched_offer == "urn:offer:eu"
    assert decision.reasons[0] == "the request is at least as strict as offer urn:offer:eu"
    assert [n.kind for n in decision.trace.children] == ["offer", "policy"]


def test_a_narrower_counter_offer_with_extra_constraints_is_agreed(build: Any) -> None:
    narrower = [
        atom("countryOfEstablishment", "eq", "DE"),
        atom("purpose", "eq", "research"),
        atom("dateTime", "lteq", "2026-06-30"),
        atom("count", "lteq", 3),
        atom("membership", "eq", "eu-dataspace"),
    ]
    ctx = build.ctx(build.claims(country="DE", members=("eu-dataspace",)), purpose="research")
    decision = decide_contract([catalogue_offer()], request(narrower, uid="urn:counter:1"), ctx, dataset_id="urn:ds:1")
    assert decision.permitted and decision.matched_offer == "urn:offer:eu"


def test_a_widened_request_is_refused_naming_each_offer_and_why(build: Any) -> None:
    wider = [
        atom("countryOfEstablishment", "isPartOf", "EEA"),
        atom("purpose", "isAnyOf", ["research"]),
        atom("dateTime", "lteq", "2027-12-31"),
        atom("count", "lteq", 5),
    ]
    offers = [catalogue_offer(), catalogue_offer("urn:offer:open-jp", [atom("countryOfEstablishment", "eq", "JP")])]
    ctx = build.ctx(build.claims(country="DE"), purpose="research")
    decision = decide_contract(offers, request(wider), ctx, dataset_id="urn:ds:1")
    assert not decision.permitted and decision.matched_offer is None
    assert decision.reasons[0] == "the request is not at least as strict as any offer for this dataset"
    text = "\n".join(decision.reasons)
    assert "offer urn:offer:eu: requested permission 'use'" in text
    eu = "countryOfEstablishment isPartOf EU (AT, BE, BG, CY, CZ, DE, ... 27 countries)"
    assert f"the offer's constraint '{eu}' is missing or widened" in text
    assert "'dateTime lteq 2026-12-31' is missing or widened" in text
    assert "offer urn:offer:open-jp:" in text
    assert [n.outcome for n in decision.trace.children] == ["not matched", "not matched"]


def test_a_request_missing_an_offered_constraint_is_refused(build: Any) -> None:
    decision = decide_contract([catalogue_offer()], request(EU_RESEARCH[:3]), build.ctx(None), dataset_id="urn:ds:1")
    assert not decision.permitted
    assert any("'count lteq 5' is missing or widened" in r for r in decision.reasons)


def test_a_request_for_another_target_is_refused(build: Any) -> None:
    decision = decide_contract(
        [catalogue_offer()], request(EU_RESEARCH, target="urn:ds:2"), build.ctx(None), dataset_id="urn:ds:1"
    )
    assert any("the request is for target urn:ds:2, the offer for urn:ds:1" in r for r in decision.reasons)


def test_a_request_without_a_target_is_refused(build: Any) -> None:
    untargeted = request(EU_RESEARCH)
    del untargeted["target"]
    decision = decide_contract([catalogue_offer()], untargeted, build.ctx(None), dataset_id="urn:ds:1")
    assert "offer urn:offer:eu: the request names no target; the offer is for urn:ds:1" in decision.reasons


def test_catalogue_offers_need_the_dataset_id_as_their_target(build: Any) -> None:
    decision = decide_contract([catalogue_offer()], request(EU_RESEARCH), build.ctx(None))
    assert any("the offer names no target" in r for r in decision.reasons)


def test_a_request_granting_an_action_the_offer_does_not_is_refused(build: Any) -> None:
    offer = {"@id": "urn:o", "@type": "Offer", "target": "urn:ds:1", "permission": [{"action": "read"}]}
    decision = decide_contract(
        [offer],
        {"@id": "urn:o", "@type": "Offer", "target": "urn:ds:1", "permission": [{"action": "use"}]},
        build.ctx(None),
    )
    assert any("'use', which the offered 'read' does not cover" in r for r in decision.reasons)


def test_offered_prohibitions_and_duties_must_be_kept(build: Any) -> None:
    offer = {
        "@id": "urn:o",
        "@type": "Offer",
        "target": "urn:ds:1",
        "permission": [{"action": "use", "duty": [{"action": "attribute"}]}],
        "prohibition": [{"action": "distribute", "constraint": [atom("purpose", "eq", "marketing")]}],
    }
    dropped = {"@id": "urn:o", "@type": "Offer", "target": "urn:ds:1", "permission": [{"action": "use"}]}
    text = "\n".join(decide_contract([offer], dropped, build.ctx(None)).reasons)
    assert "the offer's duty 'attribute' was dropped" in text
    assert "offered prohibition 'distribute' [purpose eq marketing] is not kept" in text
    broadened = {
        "@id": "urn:o",
        "@type": "Offer",
        "target": "urn:ds:1",
        "permission": [{"action": "use", "duty": [{"action": "attribute"}]}],
        "prohibition": [{"action": "use"}],
    }  # prohibits more: kept
    assert not any("not kept" in r for r in decide_contract([offer], broadened, build.ctx(None)).reasons)


def test_a_matched_request_is_still_refused_when_the_peer_does_not_qualify(build: Any) -> None:
    ctx = build.ctx(build.claims(country="JP"), purpose="research")
    decision = decide_contract([catalogue_offer()], request(EU_RESEARCH), ctx, dataset_id="urn:ds:1")
    assert not decision.permitted and decision.matched_offer == "urn:offer:eu"
    assert "the peer is established in JP" in decision.reasons[0]
    assert decision.reasons[-1] == "the request is at least as strict as offer urn:offer:eu"


def test_the_request_must_be_assigned_to_the_verified_peer(build: Any) -> None:
    ctx = build.ctx(build.claims(country="DE", participant="did:web:someone-else"), purpose="research")
    decision = decide_contract(
        [catalogue_offer()], request(EU_RESEARCH, assignee=build.peer), ctx, dataset_id="urn:ds:1"
    )
    assert not decision.permitted and "assigned to" in decision.reasons[0]


def test_a_request_naming_another_provider_is_refused(build: Any) -> None:
    decision = decide_contract(
        [catalogue_offer()],
        request(EU_RESEARCH, assigner="did:web:other"),
        build.ctx(build.claims(country="DE"), purpose="research"),
        dataset_id="urn:ds:1",
        provider_id=build.provider,
    )
    assert not decision.permitted
    assert any("this provider is" in r for r in decision.reasons)


def test_the_offer_the_request_answers_is_tried_first(build: Any) -> None:
    both = [catalogue_offer("urn:offer:a", []), catalogue_offer("urn:offer:b", [])]
    ctx = build.ctx(None)
    answering_b = decide_contract(both, request([], uid="urn:offer:b"), ctx, dataset_id="urn:ds:1")
    answering_none = decide_contract(both, request([], uid="urn:x"), ctx, dataset_id="urn:ds:1")
    assert (answering_b.matched_offer, answering_none.matched_offer) == ("urn:offer:b", "urn:offer:a")


@pytest.mark.parametrize(
    ("offers", "requested", "reason"),
    [
        ([], request([]), "there are no offers for this dataset"),
        ([catalogue_offer()], {"permission": "nope"}, "the requested policy is invalid"),
    ],
)
def test_contract_refusals_for_missing_or_malformed_input(
    build: Any, offers: list[Any], requested: Any, reason: str
) -> None:
    decision = decide_contract(offers, requested, build.ctx(None))
    assert not decision.permitted and decision.reasons[0].startswith(reason)


def test_an_invalid_offer_is_reported_and_the_others_still_tried(build: Any) -> None:
    decision = decide_contract(
        [{"permission": 1}, catalogue_offer("urn:ok", [])],
        request([], uid="urn:none"),
        build.ctx(None),
        dataset_id="urn:ds:1",
    )
    assert decision.permitted and decision.matched_offer == "urn:ok"
    assert decision.trace.children[0].why == "1 difference(s)"


# -- transfer ---------------------------------------------------------------------------------------------------------


def agreement(constraints: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "@id": "urn:agreement:1",
        "@type": "Agreement",
        "target": "urn:ds:1",
        "assigner": "did:web:provider",
        "assignee": "did:web:localhost%3A8444:org-b",
        "timestamp": "2026-02-01T12:00:00Z",
        "permission": [{"action": "use", "constraint": constraints}],
        **extra,
    }


def test_transfers_are_counted_including_the_one_being_decided(build: Any) -> None:
    doc = agreement([atom("count", "lteq", 2)])
    claims = build.claims()
    assert [decide_transfer(doc, build.ctx(claims, use_count=n)).permitted for n in range(4)] == [
        True,
        True,
        False,
        False,
    ]


def test_an_expired_agreement_refuses_transfers(build: Any) -> None:
    doc = agreement([atom("dateTime", "lt", "2026-03-01")])
    assert not decide_transfer(doc, build.ctx(build.claims())).permitted
    assert decide_transfer(doc, build.ctx(build.claims(), now=build.now - timedelta(days=1))).permitted


def test_a_revoked_credential_stops_transfers(build: Any) -> None:
    doc = agreement([atom("membership", "eq", "eu-dataspace")])
    assert decide_transfer(doc, build.ctx(build.claims(members=("eu-dataspace",)))).permitted
    revoked = decide_transfer(doc, build.ctx(build.claims()))  # the verifier dropped the revoked credential
    assert not revoked.permitted and "member of no data space" in revoked.reasons[0]


def test_elapsed_time_uses_the_agreement_timestamp_when_no_time_is_given(build: Any) -> None:
    doc = agreement([atom("elapsedTime", "lteq", "P30D")])  # concluded 2026-02-01T12:00Z, now 2026-03-01T12:00Z
    assert decide_transfer(doc, build.ctx(build.claims())).permitted
    late = build.ctx(build.claims(), now=build.now + timedelta(days=3))
    assert not decide_transfer(doc, late).permitted
    explicit = build.ctx(build.claims(), now=build.now + timedelta(days=3), agreement_time=build.now)
    assert decide_transfer(doc, explicit).permitted


def test_only_agreements_govern_transfers(build: Any) -> None:
    doc = agreement([])
    doc["@type"] = "Offer"
    decision = decide_transfer(doc, build.ctx(build.claims()))
    assert not decision.permitted and "not an Offer" in decision.reasons[0]


def test_a_transfer_by_anyone_but_the_assignee_is_refused(build: Any) -> None:
    decision = decide_transfer(agreement([]), build.ctx(build.claims(participant="did:web:intruder")))
    assert not decision.permitted and "did:web:intruder" in decision.reasons[0]


# -- consumer side: is the agreement what was asked for ------------------------------------------------------------

REQUESTED = request([atom("purpose", "eq", "research"), atom("count", "lteq", 5)], target="urn:ds:1")


def agreement_for(requested: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(requested)
    doc.update(
        {
            "@id": "urn:agreement:9",
            "@type": "Agreement",
            "assigner": "did:web:provider",
            "assignee": "did:web:consumer",
            "timestamp": "2026-03-01T12:00:00Z",
        }
    )
    return doc


def test_an_agreement_equal_up_to_order_and_spelling_has_no_differences() -> None:
    agreed = agreement_for(REQUESTED)
    agreed["permission"][0]["constraint"] = [
        {"leftOperand": "odrl:count", "operator": "odrl:lteq", "rightOperand": "5"},
        {"leftOperand": "purpose", "operator": {"@id": "eq"}, "rightOperand": {"@value": "research"}},
    ]
    agreed["permission"][0]["action"] = "odrl:use"
    assert compare_agreement(REQUESTED, agreed, "did:web:provider", "did:web:consumer") == []


def test_every_kind_of_difference_is_described() -> None:
    agreed = agreement_for(REQUESTED)
    agreed.update({"target": "urn:ds:other", "assigner": "did:web:mallory", "@type": "Offer"})
    agreed["permission"][0]["constraint"][1] = atom("count", "lteq", 50)
    agreed["prohibition"] = [{"action": "distribute"}]
    del agreed["@id"]
    differences = compare_agreement(REQUESTED, agreed, "did:web:provider", "did:web:consumer")
    assert differences == [
        "the agreement is of type Offer, not Agreement",
        "the agreement has no @id",
        "the agreement is for target urn:ds:other, but urn:ds:1 was requested",
        "the agreement's assigner is did:web:mallory, expected did:web:provider",
        "permission 'use' [purpose eq research, count lteq 5] was requested but is not in the agreement",
        "the agreement adds permission 'use' [purpose eq research, count lteq 50], which was not requested",
        "the agreement adds prohibition 'distribute' (unconditional), which was not requested",
    ]


def test_a_wrong_assignee_is_a_difference() -> None:
    differences = compare_agreement(REQUESTED, agreement_for(REQUESTED), "did:web:provider", "did:web:me")
    assert differences == ["the agreement's assignee is did:web:consumer, expected did:web:me"]


def test_and_sequence_order_matters_but_and_order_does_not() -> None:
    def with_group(operator: str, first: str, second: str) -> dict[str, Any]:
        return request([{operator: [atom("purpose", "eq", first), atom("purpose", "eq", second)]}])

    for operator, equal in (("and", True), ("or", True), ("xone", True), ("andSequence", False)):
        differences = compare_agreement(
            with_group(operator, "a", "b"),
            agreement_for(with_group(operator, "b", "a")),
            "did:web:provider",
            "did:web:consumer",
        )
        assert (differences == []) is equal, operator


def test_malformed_input_is_a_difference_not_an_exception() -> None:
    assert compare_agreement({"permission": 3}, agreement_for(REQUESTED), "a", "b")[0].startswith(
        "the requested offer is invalid"
    )
    assert compare_agreement(REQUESTED, [], "a", "b")[0].startswith("the agreement is invalid")


# -- evidence helpers ------------------------------------------------------------------------------------------------


def test_policy_hash_is_over_canonical_json() -> None:
    doc = agreement_for(REQUESTED)
    reordered = json.loads(json.dumps(doc, sort_keys=True))
    assert policy_sha256(doc) == policy_sha256(reordered) == json_sha256(doc)
    assert policy_sha256(parse_policy(doc)) == policy_sha256(doc)
    changed = copy.deepcopy(doc)
    changed["permission"][0]["constraint"][1]["rightOperand"] = 6
    assert policy_sha256(changed) != policy_sha256(doc)


@pytest.mark.parametrize(
    ("constraints", "purpose"),
    [
        ([atom("purpose", "eq", "research")], "research"),
        ([atom("purpose", "isAnyOf", ["research"]), atom("count", "lteq", 1)], "research"),
        ([atom("purpose", "isAnyOf", ["research", "education"])], None),
        ([atom("purpose", "eq", "research"), atom("purpose", "eq", "education")], None),
        ([], None),
    ],
)
def test_declared_purpose_is_read_from_a_request(constraints: list[dict[str, Any]], purpose: str | None) -> None:
    assert declared_purpose(request(constraints)) == purpose


def test_the_purpose_declared_in_the_request_is_used_when_the_context_has_none(build: Any) -> None:
    narrowed = [EU_RESEARCH[0], atom("purpose", "eq", "education"), *EU_RESEARCH[2:]]
    ctx = build.ctx(build.claims(country="DE"))
    assert decide_contract([catalogue_offer()], request(narrowed), ctx, dataset_id="urn:ds:1").permitted
    undeclared = decide_contract([catalogue_offer()], request(EU_RESEARCH), ctx, dataset_id="urn:ds:1")
    assert not undeclared.permitted and "the consumer declared no purpose" in undeclared.reasons[0]
    explicit = build.ctx(build.claims(country="DE"), purpose="marketing")
    assert not decide_contract([catalogue_offer()], request(narrowed), explicit, dataset_id="urn:ds:1").permitted


def test_a_transfer_uses_the_purpose_the_agreement_records(build: Any) -> None:
    doc = agreement([atom("purpose", "eq", "research")])
    assert decide_transfer(doc, build.ctx(build.claims())).permitted
    assert not decide_transfer(doc, build.ctx(build.claims(), purpose="marketing")).permitted
