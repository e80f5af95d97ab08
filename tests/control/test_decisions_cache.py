"""Contract decisions reuse parsed policies: the same offer (and the same request) is parsed once, and what
is decided, and how a refusal is worded, is exactly what parsing afresh gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.control import decisions
from connector.control.decisions import OfferedPolicy
from connector.policy import engine as odrl
from connector.recent import Recent
from connector.trust.claims import VerifiedClaims

NOW = datetime(2030, 1, 1, tzinfo=UTC)
CLAIMS = VerifiedClaims("did:web:example.com:consumer", NOW)
OFFER = OfferedPolicy("offer-1", "dataset-1", {"permission": [{"action": "use"}]})
REQUEST = {"@id": "offer-1", "@type": "Offer", "target": "dataset-1", "permission": [{"action": "use"}]}


def _cache(entries: int, budget: int, largest: int) -> Recent:
    return Recent(entries, budget, lambda text, _: len(text), largest=largest)


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    shipped = decisions._CACHE  # a fresh one, bounded as the node's is
    monkeypatch.setattr(decisions, "_CACHE", _cache(shipped.entries, shipped.budget, shipped.largest))


@pytest.fixture
def parses(monkeypatch):
    """How many times the adapter had a policy parsed."""
    calls: list[dict] = []
    real = odrl.parse_policy

    def counting(document):
        calls.append(document)
        return real(document)

    monkeypatch.setattr(odrl, "parse_policy", counting)
    return calls


def decide(request, offers=(OFFER,)):
    return decisions.contract_verdict(list(offers), request, "dataset-1", CLAIMS, NOW, None, {})


def test_the_same_offer_and_request_are_parsed_once_over_many_negotiations(parses):
    verdicts = [decide(dict(REQUEST)) for _ in range(5)]
    assert len(parses) == 1  # the request is the offer as published: one JSON document, one parse
    assert all(v.permitted for v in verdicts)
    assert len({(v.reasons, repr(v.trace), v.explanation, v.matched_offer_id) for v in verdicts}) == 1


def test_a_cached_decision_is_the_decision_of_a_fresh_parse():
    cached = decide(dict(REQUEST))
    again = decide(dict(REQUEST))
    fresh = decisions._verdict(
        odrl.decide_contract(
            [{"@id": "offer-1", "@type": "Offer", "target": "dataset-1", "permission": [{"action": "use"}]}],
            dict(REQUEST),
            odrl.DecisionContext(claims=CLAIMS, now=NOW, purpose=None, stage="negotiation", regions={}),
            dataset_id="dataset-1",
        )
    )
    for verdict in (cached, again):
        assert (verdict.permitted, verdict.reasons, verdict.trace, verdict.explanation, verdict.matched_offer_id) == (
            fresh.permitted,
            fresh.reasons,
            fresh.trace,
            fresh.explanation,
            fresh.matched_offer_id,
        )


def test_an_invalid_request_is_refused_in_the_decision_s_own_words_every_time():
    bad = {"@type": "Offer", "target": "dataset-1", "permission": [{"action": 42}]}
    first, second = decide(dict(bad)), decide(dict(bad))
    assert not first.permitted and first.reasons == second.reasons
    assert first.reasons[0].startswith("the requested policy is invalid")


def test_an_invalid_offer_is_named_as_such_and_a_valid_one_still_matches():
    broken = OfferedPolicy("offer-0", "dataset-1", {"permission": "not a list"})
    verdict = decide(dict(REQUEST), offers=(broken, OFFER))
    assert verdict.permitted and verdict.matched_offer_id == "offer-1"
    refused = decide({**REQUEST, "@id": "offer-0", "permission": [{"action": "read"}]}, offers=(broken,))
    assert not refused.permitted and any("the offer is invalid" in r for r in refused.reasons)


def test_the_cache_stays_within_its_bound(monkeypatch):
    monkeypatch.setattr(decisions, "_CACHE", _cache(3, 1024 * 1024, 64 * 1024))
    for n in range(10):
        decide({**REQUEST, "@id": f"request-{n}"})
    assert len(decisions._CACHE) <= 3
    assert decide(dict(REQUEST)).permitted


def test_requests_a_peer_makes_large_are_not_kept_and_the_cache_stays_within_its_characters(monkeypatch):
    # A peer's requested policy can be as large as a message may be: the cache holds texts by their size too.
    large = {**REQUEST, "@id": "x" * 70_000}
    assert decide(large).permitted  # decided all the same, and not kept
    assert len(decisions._CACHE) == 1 and decisions._CACHE.held < 1000  # the offer alone
    monkeypatch.setattr(decisions, "_CACHE", _cache(1000, 200_000, 64 * 1024))
    for n in range(20):
        decide({**REQUEST, "@id": f"request-{n}-" + "y" * 20_000})
    assert decisions._CACHE.held <= 200_000 and len(decisions._CACHE) < 12
    assert decide(dict(REQUEST)).permitted


def test_an_agreement_is_compared_with_the_cached_request_as_with_a_fresh_one(parses):
    agreement = {
        "@id": "urn:uuid:a1",
        "@type": "Agreement",
        "target": "dataset-1",
        "assigner": "did:web:p",
        "assignee": "did:web:c",
        "permission": [{"action": "use"}],
    }
    decide(dict(REQUEST))
    before = len(parses)
    verdict = decisions.agreement_verdict(dict(REQUEST), agreement, "did:web:p", "did:web:c")
    assert verdict.permitted and len(parses) == before  # the request was known; the agreement parsed by the engine
    wrong = decisions.agreement_verdict(dict(REQUEST), {**agreement, "target": "other"}, "did:web:p", "did:web:c")
    assert not wrong.permitted and "target other" in wrong.reasons[0]
    invalid = decisions.agreement_verdict({"permission": 3}, agreement, "did:web:p", "did:web:c")
    assert invalid.reasons[0].startswith("the requested offer is invalid")


def test_a_parsed_policy_is_taken_as_it_is_and_anything_else_but_an_object_is_refused():
    policy = decisions.parsed(OFFER.policy)
    assert isinstance(policy, odrl.Policy) and decisions.parsed(policy) is policy
    for wrong in ([{"action": "use"}], "use", None):
        with pytest.raises(TypeError, match="JSON object or a parsed Policy"):
            decisions.parsed(wrong)  # type: ignore[arg-type]
