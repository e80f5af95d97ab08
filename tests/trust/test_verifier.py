"""The verifier plan, driven the way the integrator's edge will drive it, against an in-test credential service."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from verifier_kit import MEMBERSHIP_SCOPE, Peer, drive, new_plan

from connector.errors import ConnectorError
from connector.trust.claims import MEMBERSHIP_CREDENTIAL, VerifiedClaims
from connector.trust.presentations import (
    issue_presentation,
)
from connector.trust.scopes import type_scope
from connector.trust.tokens import MemoryReplayCache, issue_id_token
from connector.trust.verifier import (
    PRESENTATIONS_BUDGET,
    NeedDidDocument,
    NeedPresentation,
    NeedStatusLists,
    PresentationCache,
    Refusal,
    Verified,
    VerifierSettings,
)


def refusal(step, code: str) -> Refusal:
    assert isinstance(step, Refusal), step
    assert step.code == code, f"{step.code}: {step.reason}"
    return step


# --- the happy path ---------------------------------------------------------------------------------------


def test_full_verification_yields_verified_claims(world, now) -> None:
    peer = Peer(world, now)
    step = drive(new_plan(world, now), world, peer, now)
    assert isinstance(step, Verified)
    claims: VerifiedClaims = step.claims
    assert claims.participant_id == world.a.did
    assert claims.credential_types == {MEMBERSHIP_CREDENTIAL}
    (credential,) = claims.of_type(MEMBERSHIP_CREDENTIAL)
    assert credential.subject["memberOf"] == "urn:dataspace:alpha"
    assert credential.federation == "Alpha data space"
    assert claims.notes["presentation"] == "fetched"
    assert claims.notes["checks"] == (
        "token.claims",
        "token.signature",
        "token.key_certificate",
        "token.replay",
        "presentation.key_certificate",
        "presentation",
        "credentials",
        "status",
    )
    assert claims.notes["status_lists"] == {world.status_url: now.isoformat()}


def test_steps_ask_for_the_did_document_then_the_credential_service(world, now) -> None:
    plan = new_plan(world, now)
    step = plan.check_token(Peer(world, now).id_token(now), world.a.did, now)
    assert step == NeedDidDocument(world.a.did, "https://localhost:8443/org-a/did.json")
    step = plan.with_did_document(world.a.document_json, now)
    assert isinstance(step, NeedPresentation)
    assert step.url == "https://localhost:8443/org-a/cs/presentations/query"
    assert json.loads(step.body())["scope"] == [MEMBERSHIP_SCOPE]


def test_no_scopes_means_no_presentation_is_fetched(world, now) -> None:
    peer = Peer(world, now)
    step = drive(new_plan(world, now, scopes=()), world, peer, now, token=peer.id_token(now, scopes=()))
    assert isinstance(step, Verified) and step.claims.credentials == ()
    assert peer.queries == 0


# --- refusals, each naming its check ----------------------------------------------------------------------


def test_status_list_unreachable_fails_closed(world, now) -> None:
    step = drive(new_plan(world, now), world, Peer(world, now), now, status_lists={})
    refusal(step, "status.unavailable")
    assert step.peer == world.a.did and step.step == "status"


def test_revoked_credential_is_refused(world, now) -> None:
    step = drive(
        new_plan(world, now),
        world,
        Peer(world, now),
        now,
        status_lists={world.status_url: world.status_list(revoked=(7,))},
    )
    refusal(step, "credential.revoked")


def test_token_on_another_tls_connection_is_refused_before_any_fetch(world, now) -> None:
    plan = new_plan(world, now)
    step = plan.check_token(Peer(world, now).id_token(now), world.b.did, now)
    refusal(step, "token.channel_binding")
    with pytest.raises(ConnectorError) as err:
        plan.with_did_document(world.a.document_json, now)
    assert err.value.code == "verification.out_of_order"


def test_replayed_token_is_refused_by_the_second_verification(world, now) -> None:
    replay = MemoryReplayCache()
    peer = Peer(world, now)
    token = peer.id_token(now)
    assert isinstance(drive(new_plan(world, now, replay=replay), world, peer, now, token=token), Verified)
    refusal(drive(new_plan(world, now, replay=replay), world, peer, now, token=token), "token.replayed")


def test_credential_not_asked_for_is_refused(world, now) -> None:
    def present(query, grant):
        w = world
        return [issue_presentation(w.a.key, w.a.kid, w.a.did, w.b.did, [w.organization(w.a.did)], now)]

    refusal(drive(new_plan(world, now), world, Peer(world, now, present=present), now), "presentation.scope")


def test_presentation_signed_by_another_party_is_refused(world, now) -> None:
    def present(query, grant):
        w = world
        return [issue_presentation(w.b.key, w.b.kid, w.b.did, w.b.did, [w.membership(w.a.did)], now)]

    refusal(drive(new_plan(world, now), world, Peer(world, now, present=present), now), "presentation.holder_mismatch")


def test_credential_about_another_participant_is_refused(world, now) -> None:
    peer = Peer(world, now, credentials=[world.membership(world.b.did)])
    refusal(drive(new_plan(world, now), world, peer, now), "credential.subject_mismatch")


def test_token_without_access_token_cannot_reach_the_credential_service(world, now) -> None:
    peer = Peer(world, now)
    refusal(
        drive(new_plan(world, now), world, peer, now, token=peer.id_token(now, scopes=())), "token.access_token_missing"
    )


def test_did_document_unreachable_fails_closed(world, now) -> None:
    plan = new_plan(world, now)
    plan.check_token(Peer(world, now).id_token(now), world.a.did, now)
    refusal(plan.unavailable("timeout"), "did.unavailable")


def test_key_without_certificate_chain_is_refused_unless_allowed(world, now) -> None:
    doc = copy.deepcopy(world.a.document_json)
    del doc["verificationMethod"][0]["publicKeyJwk"]["x5c"]
    peer = Peer(world, now)
    refusal(drive(new_plan(world, now), world, peer, now, document=doc), "token.key_certificate")
    relaxed = VerifierSettings(require_key_certificate=False)
    assert isinstance(drive(new_plan(world, now, settings=relaxed), world, peer, now, document=doc), Verified)


def test_expired_trust_list_no_longer_vouches_for_issuers(world, now) -> None:
    later = now + timedelta(days=31)
    peer = Peer(world, later)
    lists = {world.status_url: world.status_list(valid_until=later + timedelta(days=1))}
    # The federation CA is no longer trusted, so the peer's key chain fails first...
    refusal(drive(new_plan(world, later), world, peer, later, status_lists=lists), "token.key_certificate")
    # ...and without that check the credential issuer is no longer recognised.
    relaxed = VerifierSettings(require_key_certificate=False)
    step = drive(new_plan(world, later, settings=relaxed), world, peer, later, status_lists=lists)
    refusal(step, "credential.issuer_untrusted")


def test_status_list_from_an_edge_cache_that_is_too_old_is_refetched(world, now) -> None:
    plan = new_plan(world, now)
    step = plan.check_token(Peer(world, now).id_token(now), world.a.did, now)
    step = plan.with_did_document(world.a.document_json, now)
    step = plan.with_presentation(Peer(world, now).answer(step, now), now)
    assert isinstance(step, NeedStatusLists) and step.refetch == frozenset()
    step = plan.with_status_list(world.status_url, world.status_list(), now - timedelta(hours=1), now)
    assert isinstance(step, NeedStatusLists) and step.refetch == {world.status_url}
    step = plan.with_status_list(world.status_url, world.status_list(), now, now)
    assert isinstance(step, Verified)


def test_status_list_still_stale_after_refetch_is_refused(world, now) -> None:
    stale = now - timedelta(hours=1)
    plan = new_plan(world, now)
    plan.check_token(Peer(world, now).id_token(now), world.a.did, now)
    plan.with_presentation(Peer(world, now).answer(plan.with_did_document(world.a.document_json, now), now), now)
    plan.with_status_list(world.status_url, world.status_list(), stale, now)
    refusal(plan.with_status_list(world.status_url, world.status_list(), stale, now), "status.stale")


def test_status_list_not_asked_for_is_a_programming_error(world, now) -> None:
    plan = new_plan(world, now)
    plan.check_token(Peer(world, now).id_token(now), world.a.did, now)
    plan.with_presentation(Peer(world, now).answer(plan.with_did_document(world.a.document_json, now), now), now)
    with pytest.raises(ConnectorError) as err:
        plan.with_status_list("https://localhost:8443/authority/status/9", world.status_list(), now, now)
    assert err.value.code == "verification.out_of_order"


def test_calling_a_step_twice_is_a_programming_error(world, now) -> None:
    plan = new_plan(world, now)
    plan.check_token(Peer(world, now).id_token(now), world.a.did, now)
    with pytest.raises(ConnectorError):
        plan.check_token(Peer(world, now).id_token(now), world.a.did, now)


# --- reuse of verified presentations ----------------------------------------------------------------------


def test_verified_presentation_is_reused_but_the_token_and_status_are_always_checked(world, now) -> None:
    cache = PresentationCache(max_reuse=timedelta(minutes=5))
    peer = Peer(world, now)
    assert isinstance(drive(new_plan(world, now, cache=cache), world, peer, now), Verified)
    assert peer.queries == 1

    later = now + timedelta(minutes=2)
    step = drive(
        new_plan(world, later, cache=cache), world, peer, later, status_lists={world.status_url: world.status_list()}
    )
    assert isinstance(step, Verified) and step.claims.notes["presentation"] == "cached"
    assert peer.queries == 1

    # Revocation is honoured on reuse: the status list is consulted every time.
    revoked = {world.status_url: world.status_list(revoked=(7,))}
    refusal(drive(new_plan(world, later, cache=cache), world, peer, later, status_lists=revoked), "credential.revoked")


def test_reuse_ends_with_the_presentation_expiry_or_the_configured_bound(world, now) -> None:
    cache = PresentationCache(max_reuse=timedelta(minutes=1))
    peer = Peer(world, now)
    drive(new_plan(world, now, cache=cache), world, peer, now)
    later = now + timedelta(minutes=2)
    lists = {world.status_url: world.status_list()}
    step = drive(new_plan(world, later, cache=cache), world, peer, later, status_lists=lists)
    assert isinstance(step, Verified) and step.claims.notes["presentation"] == "fetched"
    assert peer.queries == 2


def test_reuse_is_per_participant_and_scope_set(world, now) -> None:
    cache = PresentationCache()
    drive(new_plan(world, now, cache=cache), world, Peer(world, now), now)
    assert cache.get(world.a.did, [MEMBERSHIP_SCOPE], now) is not None
    assert cache.get(world.a.did, [MEMBERSHIP_SCOPE, type_scope("OrganizationCredential")], now) is None
    assert cache.get(world.b.did, [MEMBERSHIP_SCOPE], now) is None


def test_presentations_kept_for_reuse_stay_within_their_budget_however_many_and_large_they_come(world, now) -> None:
    import dataclasses
    import gc
    import tracemalloc

    cache = PresentationCache()
    assert isinstance(drive(new_plan(world, now, cache=cache), world, Peer(world, now), now), Verified)
    normal = cache.get(world.a.did, [MEMBERSHIP_SCOPE], now)
    assert normal is not None
    real = normal.credentials[0]

    def large(n: int):  # what a presentation of several MiB holds once its credentials are checked: 600 KB
        subject = {"id": world.a.did, "claims": [{"n": n, "i": i} for i in range(2000)]}
        return dataclasses.replace(real, id=f"urn:uuid:{n}", token=f"{n}." + "x" * 100_000, subject=subject)

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(100):  # 100 peers' presentations: 60 MB
            cache.put(f"did:web:example.com:peer-{n}", [MEMBERSHIP_SCOPE], [large(n)], f"sha-{n}", None, now)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < PRESENTATIONS_BUDGET * 1.25, held
    assert cache.get("did:web:example.com:peer-99", [MEMBERSHIP_SCOPE], now) is not None  # the latest kept
    assert cache.get("did:web:example.com:peer-0", [MEMBERSHIP_SCOPE], now) is None  # the oldest forgotten

    # A normal presentation is still reused, through the plan as through the cache.
    cache.put(world.a.did, [MEMBERSHIP_SCOPE], [real], normal.presentation_sha256, None, now)
    peer = Peer(world, now)
    step = drive(new_plan(world, now, cache=cache), world, peer, now)
    assert isinstance(step, Verified) and step.claims.notes["presentation"] == "cached" and peer.queries == 0


# --- the plan as a state machine --------------------------------------------------------------------------

_ALL_ACTIONS = [
    ("token", "good"),
    ("token", "forged"),
    ("token", "wrong_peer"),
    ("document", "good"),
    ("document", "other"),
    ("document", "junk"),
    ("presentation", "good"),
    ("presentation", "other_subject"),
    ("presentation", "junk"),
    ("status", "good"),
    ("status", "revoked"),
    ("status", "stale"),
    ("status", "forged"),
    ("unavailable", "-"),
]
_GOOD_RUN = [("token", "good"), ("document", "good"), ("presentation", "good"), ("status", "good")]


def _mutate(
    edits: tuple[list[tuple[int, tuple[str, str]]], list[tuple[int, tuple[str, str]]]],
) -> list[tuple[str, str]]:
    replacements, insertions = edits
    run = list(_GOOD_RUN)
    for index, action in replacements:
        run[index] = action
    for index, action in insertions:
        run.insert(index, action)
    return run


_edit = st.tuples(st.integers(0, 3), st.sampled_from(_ALL_ACTIONS))
# Mostly near-misses of the one good run (so that both outcomes occur), plus arbitrary sequences.
_ACTIONS = st.one_of(
    st.tuples(st.lists(_edit, max_size=2), st.lists(_edit, max_size=2)).map(_mutate),
    st.lists(st.sampled_from(_ALL_ACTIONS), max_size=8),
)


@given(actions=_ACTIONS)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_call_sequence_reaches_verified_without_the_genuine_inputs(world, now, actions) -> None:
    from connector.keys import generate_key

    peer = Peer(world, now)
    good_token = peer.id_token(now)
    forged_token = issue_id_token(generate_key(), world.a.kid, world.a.did, world.b.did, "x", now)
    inputs = {
        ("document", "good"): world.a.document_json,
        ("document", "other"): world.b.document_json,
        ("document", "junk"): b"{not json",
        ("presentation", "junk"): b"[]",
        ("status", "good"): (world.status_list(), now),
        ("status", "revoked"): (world.status_list(revoked=(7,)), now),
        ("status", "stale"): (world.status_list(), now - timedelta(hours=2)),
        ("status", "forged"): (world.status_list(key=generate_key()), now),
    }
    plan = new_plan(world, now)
    used: set[tuple[str, str]] = set()
    step = None
    for kind, variant in actions:
        try:
            if kind == "token":
                token = {"good": good_token, "forged": forged_token, "wrong_peer": good_token}[variant]
                step = plan.check_token(token, world.b.did if variant == "wrong_peer" else world.a.did, now)
            elif kind == "document":
                step = plan.with_did_document(inputs[(kind, variant)], now)
            elif kind == "presentation":
                body = inputs.get((kind, variant), b"{}")
                if isinstance(step, NeedPresentation) and variant != "junk":
                    service = (
                        peer if variant == "good" else Peer(world, now, credentials=[world.membership(world.b.did)])
                    )
                    body = service.answer(step, now)
                step = plan.with_presentation(body, now)
            elif kind == "status":
                token, fetched_at = inputs[(kind, variant)]
                step = plan.with_status_list(world.status_url, token, fetched_at, now)
            else:
                step = plan.unavailable("gone")
        except ConnectorError as exc:
            assert exc.code == "verification.out_of_order"
            continue
        used.add((kind, variant))
        if isinstance(step, (Verified, Refusal)):
            break
    event(type(step).__name__)
    if isinstance(step, Verified):
        assert used <= {
            ("token", "good"),
            ("document", "good"),
            ("presentation", "good"),
            ("status", "good"),
            ("status", "stale"),
        }
        assert {("token", "good"), ("document", "good"), ("presentation", "good"), ("status", "good")} <= used


@pytest.mark.parametrize(
    ("url", "allowed", "refused"),
    [
        ("https://localhost:8443/org-a/dcp", frozenset(), False),
        ("https://LOCALHOST:8443/dcp", frozenset(), False),
        ("https://localhost:9443/dcp", frozenset(), True),  # another port: another node
        ("https://hub.example/dcp", frozenset(), True),
        ("https://hub.example/dcp", frozenset({"https://hub.example"}), False),
        ("https://hub.example:443/dcp", frozenset({"https://hub.example"}), False),
        ("https://localhost:8443/dcp?next=/dsp", frozenset(), True),
        ("https://localhost:8443/dcp#x", frozenset(), True),
        ("https://user@localhost:8443/dcp", frozenset(), True),
        ("http://localhost:8443/dcp", frozenset(), True),
    ],
)
def test_a_credential_service_is_asked_only_on_the_dids_own_host_or_a_named_origin(url, allowed, refused) -> None:
    from connector.trust.verifier import credential_service_problem

    problem = credential_service_problem("did:web:localhost%3A8443:org-a", url, allowed)
    assert (problem is not None) == refused, problem
