"""Assigner and assignee by data-space names: configured aliases read as the participants they stand for."""

from __future__ import annotations

from types import MappingProxyType

from connector.control.decisions import PolicyDecisions
from connector.policy.engine import PartyNames
from connector.policy.seam import OfferedPolicy, UsageContext

PROVIDER_BPN, CONSUMER_BPN = "BPNL000000000001", "BPNL000000000002"


def _decisions(build, aliases: bool = True) -> PolicyDecisions:
    names = {PROVIDER_BPN: build.provider, CONSUMER_BPN: build.peer} if aliases else {}
    return PolicyDecisions(parties=PartyNames(MappingProxyType(names)))


def _requested(build, assigner: str, assignee: str) -> dict:
    return {
        "@id": "urn:offer:1",
        "@type": "Offer",
        "target": "urn:ds:1",
        "assigner": assigner,
        "assignee": {"@id": assignee},
        "permission": [{"action": "use", "assignee": assignee}],
    }


def test_names_that_are_no_alias_are_left_alone(build) -> None:
    names = PartyNames(MappingProxyType({PROVIDER_BPN: build.provider}))
    policy = _requested(build, PROVIDER_BPN, "someone-else")
    resolved = names.resolve(policy)
    assert resolved["assigner"] == build.provider
    assert resolved["assignee"] == {"@id": "someone-else"} and resolved["permission"][0]["assignee"] == "someone-else"
    assert policy["assigner"] == PROVIDER_BPN  # not changed in place
    assert PartyNames().resolve(policy) is policy


def test_a_request_naming_the_parties_by_their_aliases_is_agreed(build) -> None:
    offered = [OfferedPolicy("urn:offer:1", "urn:ds:1", {"permission": [{"action": "use"}]})]
    requested = _requested(build, PROVIDER_BPN, CONSUMER_BPN)
    claims = build.claims()
    verdict = _decisions(build).contract(offered, requested, "urn:ds:1", claims, build.now, None)
    assert verdict.permitted, verdict.reasons
    refused = _decisions(build, aliases=False).contract(offered, requested, "urn:ds:1", claims, build.now, None)
    assert not refused.permitted and CONSUMER_BPN in refused.reason


def test_an_alias_of_another_participant_is_no_pass(build) -> None:
    offered = [OfferedPolicy("urn:offer:1", "urn:ds:1", {"permission": [{"action": "use"}]})]
    requested = _requested(build, PROVIDER_BPN, PROVIDER_BPN)  # assigned to the provider, asked by the peer
    verdict = _decisions(build).contract(offered, requested, "urn:ds:1", build.claims(), build.now, None)
    assert not verdict.permitted


def test_an_agreement_naming_the_parties_by_their_aliases_is_what_was_asked_for(build) -> None:
    requested = {"@id": "urn:offer:1", "target": "urn:ds:1", "permission": [{"action": "use"}]}
    agreement = {
        "@id": "urn:agreement:1",
        "@type": "Agreement",
        "target": "urn:ds:1",
        "assigner": PROVIDER_BPN,
        "assignee": CONSUMER_BPN,
        "timestamp": "2026-03-01T12:00:00Z",
        "permission": [{"action": "use"}],
    }
    verdict = _decisions(build).agreement_acceptable(requested, agreement, build.provider, build.peer)
    assert verdict.permitted, verdict.reasons
    refused = _decisions(build, aliases=False).agreement_acceptable(requested, agreement, build.provider, build.peer)
    assert not refused.permitted and PROVIDER_BPN in refused.reason
    usage = UsageContext(now=build.now, agreement_time=build.now, use_count=0)
    assert _decisions(build).transfer(agreement, build.claims(), usage).permitted
    assert not _decisions(build, aliases=False).transfer(agreement, build.claims(), usage).permitted
