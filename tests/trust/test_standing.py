"""A peer's standing re-established from stored claims, without the peer: validity, issuers on the trust lists in
force, status bits on a fresh enough list; through the claims codec the way the node stores them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connector.control import claims_codec
from connector.errors import ConnectorError
from connector.trust.claims import MEMBERSHIP_CREDENTIAL, VerifiedClaims
from connector.trust.credentials import verify_credential
from connector.trust.standing import InStanding, Standing, StandingSettings
from connector.trust.status_list import StatusListCachePolicy
from connector.trust.trust_list import TrustStore, verify_trust_list
from connector.trust.verifier import NeedStatusLists, Refusal


def stored(world, now, *tokens: str) -> VerifiedClaims:
    """Claims as verified at `now`, through the JSON the node keeps with a transfer and back."""
    credentials = tuple(verify_credential(t, world.store, world.a.did, now).verified() for t in tokens)
    claims = VerifiedClaims(world.a.did, now, credentials)
    return claims_codec.from_json(claims_codec.to_json(claims), world.a.did, now)


def run(check: Standing, world, now, lists=None, fetched_at=None):
    """Drive the check; `lists` maps URL -> status list JWT (a missing URL is unreachable)."""
    lists = {world.status_url: world.status_list()} if lists is None else lists
    step = check.begin(now)
    while isinstance(step, NeedStatusLists):
        url = step.urls[0]
        if url not in lists:
            step = check.unavailable("connection refused", url)
        else:
            when = now if url in step.refetch or fetched_at is None else fetched_at
            step = check.with_status_list(url, lists[url], when, now)
    return step


def refused(step, code: str) -> Refusal:
    assert isinstance(step, Refusal), step
    assert step.code == code, f"{step.code}: {step.reason}"
    return step


def test_the_status_entry_survives_the_claims_codec(world, now) -> None:
    (credential,) = stored(world, now, world.membership(world.a.did, index=42)).credentials
    assert credential.status is not None
    assert (credential.status.index, credential.status.list_url, credential.status.purpose) == (
        42,
        world.status_url,
        "revocation",
    )


def test_credentials_that_still_hold_keep_the_peer_in_standing(world, now) -> None:
    claims = stored(world, now, world.membership(world.a.did), world.organization(world.a.did))
    step = run(Standing(claims, world.store), world, now + timedelta(days=1), fetched_at=None)
    assert isinstance(step, InStanding) and step.claims is claims
    assert list(step.status_lists) == [world.status_url]


def test_a_revoked_or_suspended_credential_ends_the_standing(world, now) -> None:
    claims = stored(world, now, world.membership(world.a.did, index=7))
    refused(
        run(Standing(claims, world.store), world, now, {world.status_url: world.status_list((7,))}),
        "credential.revoked",
    )
    suspended = stored(world, now, world.membership(world.a.did, status=world.status(9, "suspension")))
    lists = {world.status_url: world.status_list((9,), purpose="suspension")}
    refused(run(Standing(suspended, world.store), world, now, lists), "credential.suspended")


def test_an_expired_credential_ends_the_standing_without_a_fetch(world, now) -> None:
    claims = stored(world, now, world.membership(world.a.did, valid_until=now + timedelta(hours=1)))
    step = Standing(claims, world.store).begin(now + timedelta(hours=2))
    assert refused(step, "credential.expired").step == "credentials"


def test_an_issuer_no_longer_on_a_trust_list_in_force_ends_the_standing(world, now) -> None:
    claims = stored(world, now, world.membership(world.a.did))
    without = TrustStore((verify_trust_list(world.sign_list(sequence=2, issuers=[]), world.root_cert, now),))
    refused(Standing(claims, without).begin(now), "credential.issuer_untrusted")
    narrowed = world.sign_list(sequence=2, issuers=[world.alpha_issuer(types=("OrganizationCredential",))])
    store = TrustStore((verify_trust_list(narrowed, world.root_cert, now),))
    refused(Standing(claims, store).begin(now), "credential.type_not_allowed")
    expiring = world.sign_list(sequence=2, valid_until=now + timedelta(hours=1))
    store = TrustStore((verify_trust_list(expiring, world.root_cert, now),))
    refused(Standing(claims, store).begin(now + timedelta(hours=2)), "credential.issuer_untrusted")


def test_a_copy_of_the_status_list_older_than_the_policy_is_fetched_again(world, now) -> None:
    claims = stored(world, now, world.membership(world.a.did))
    settings = StandingSettings(status_cache=StatusListCachePolicy(max_age=timedelta(seconds=60)))
    check = Standing(claims, world.store, settings)
    step = check.begin(now)
    assert isinstance(step, NeedStatusLists) and not step.refetch
    step = check.with_status_list(world.status_url, world.status_list(), now - timedelta(minutes=5), now)
    assert isinstance(step, NeedStatusLists) and step.refetch == {world.status_url}
    refused(
        check.with_status_list(world.status_url, world.status_list(), now - timedelta(minutes=5), now), "status.stale"
    )


def test_an_unreachable_status_list_is_a_standing_not_decided_now(world, now) -> None:
    claims = stored(world, now, world.membership(world.a.did))
    step = refused(run(Standing(claims, world.store), world, now, lists={}), "status.unavailable")
    assert step.code.endswith(".unavailable") and step.step == "status"


def test_a_forged_status_list_is_refused(world, now) -> None:
    from connector.keys import generate_key

    claims = stored(world, now, world.membership(world.a.did))
    step = run(Standing(claims, world.store), world, now, {world.status_url: world.status_list(key=generate_key())})
    assert isinstance(step, Refusal) and step.code.startswith("status.")


def test_claims_kept_without_their_status_entry_cannot_be_rechecked(world, now) -> None:
    data = claims_codec.to_json(stored(world, now, world.membership(world.a.did)))
    for credential in data["credentials"]:
        del credential["status"]  # as stored before the status was kept
    claims = claims_codec.from_json(data, world.a.did, now)
    assert refused(Standing(claims, world.store).begin(now), "credential.status_missing").step == "credentials"


def test_steps_out_of_order_are_programming_errors(world, now) -> None:
    claims = stored(world, now, world.membership(world.a.did))
    check = Standing(claims, world.store)
    with pytest.raises(ConnectorError):
        check.with_status_list(world.status_url, world.status_list(), now, now)
    check.begin(now)
    with pytest.raises(ConnectorError):
        check.begin(now)


def test_no_credentials_no_fetch(world, now) -> None:
    step = Standing(VerifiedClaims(world.a.did, now), world.store).begin(now)
    assert isinstance(step, InStanding) and not step.claims.of_type(MEMBERSHIP_CREDENTIAL)
