"""A peer without a client certificate, as DCP 1.0 and EDC have it: the ID token alone names the peer, every other
check stays, and a federation whose trust list requires certificates of its members still gets them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from trust.conftest import NOW
from trust.test_verifier import MEMBERSHIP_SCOPE, Peer, drive, new_plan, refusal

from connector.errors import ConnectorError
from connector.trust.tokens import check_access_token, issue_access_token, issue_id_token, read_id_token
from connector.trust.trust_list import TrustStore, build_trust_list, sign_trust_list, verify_trust_list
from connector.trust.verifier import NeedDidDocument, Verified


def _drive_unbound(plan, world, peer, now, token=None):
    """Like `drive`, for a connection without a client certificate."""
    original = plan.check_token

    def unbound(token_, _tls_participant, now_):
        return original(token_, None, now_)

    plan.check_token = unbound
    return drive(plan, world, peer, now, token=token)


def test_without_a_certificate_the_token_names_the_peer(world, now) -> None:
    step = _drive_unbound(new_plan(world, now), world, Peer(world, now), now)
    assert isinstance(step, Verified)
    assert step.claims.participant_id == world.a.did
    assert step.claims.notes["channel"] == "token"
    assert "token.signature" in step.claims.notes["checks"] and "status" in step.claims.notes["checks"]


def test_with_a_certificate_the_channel_is_named_in_the_notes(world, now) -> None:
    step = drive(new_plan(world, now), world, Peer(world, now), now)
    assert isinstance(step, Verified) and step.claims.notes["channel"] == "tls"


def test_without_a_certificate_the_issuers_document_is_asked_for(world, now) -> None:
    plan = new_plan(world, now)
    step = plan.check_token(Peer(world, now).id_token(now), None, now)
    assert step == NeedDidDocument(world.a.did, "https://localhost:8443/org-a/did.json")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"aud": "did:web:localhost%3A8443:org-c"}, "token.audience"),
        ({"sub": "did:web:localhost%3A8443:org-c"}, "token.subject_mismatch"),
        ({"exp_offset": -3600}, "token.expired"),
    ],
)
def test_without_a_certificate_every_token_check_still_applies(world, now, change, code) -> None:
    from connector.trust.compact import sign_jwt

    iat = int(now.timestamp())
    claims = {"iss": world.a.did, "sub": world.a.did, "aud": world.b.did, "jti": "urn:uuid:1", "iat": iat}
    claims["exp"] = iat + 300 + change.pop("exp_offset", 0)
    claims.update(change)
    token = sign_jwt(world.a.key, claims, {"typ": "JWT", "kid": world.a.kid})
    with pytest.raises(ConnectorError) as err:
        read_id_token(token, world.b.did, None, now)
    assert err.value.code == code


def test_a_token_signed_by_another_key_is_refused_without_a_certificate(world, now, other_key) -> None:
    token = issue_id_token(other_key, world.a.kid, world.a.did, world.b.did, None, now)
    refusal(_drive_unbound(new_plan(world, now), world, Peer(world, now), now, token=token), "token.signature")


def test_the_credential_service_serves_a_verifier_without_a_certificate(world, now) -> None:
    access = issue_access_token(world.a.key, world.a.kid, world.a.did, world.b.did, [MEMBERSHIP_SCOPE], now)
    token = issue_id_token(world.b.key, world.b.kid, world.b.did, world.a.did, access, now)
    grant = check_access_token(token, world.b.document, world.a.document, None, now)
    assert grant.verifier == world.b.did
    with pytest.raises(ConnectorError) as err:  # a certificate of someone else still binds
        check_access_token(token, world.b.document, world.a.document, world.a.did, now)
    assert err.value.code == "token.channel_binding"


# --- a federation that requires certificates of its members ------------------------------------------------------


def _strict_store(world, require: bool) -> TrustStore:
    doc = build_trust_list(
        "urn:federation:alpha",
        "Alpha data space",
        1,
        NOW - timedelta(days=1),
        NOW - timedelta(days=1),
        NOW + timedelta(days=30),
        [world.root_cert],
        [world.alpha_issuer()],
        require_client_certificate=require,
    )
    return TrustStore((verify_trust_list(sign_trust_list(doc, world.root_key, world.root_cert), world.root_cert, NOW),))


def test_a_list_requiring_certificates_says_so_and_one_without_the_member_does_not(world) -> None:
    assert _strict_store(world, True).lists[0].require_client_certificate is True
    assert _strict_store(world, False).lists[0].require_client_certificate is False
    assert "requireClientCertificate" not in _strict_store(world, False).lists[0].document


def test_a_member_of_a_federation_requiring_certificates_is_refused_without_one(world, now) -> None:
    plan = new_plan(world, now, store=_strict_store(world, True))
    step = refusal(_drive_unbound(plan, world, Peer(world, now), now), "certificate.required")
    assert "Alpha data space" in step.reason and step.step == "certificate"


def test_a_member_of_a_federation_requiring_certificates_passes_with_one(world, now) -> None:
    step = drive(new_plan(world, now, store=_strict_store(world, True)), world, Peer(world, now), now)
    assert isinstance(step, Verified)


def test_a_list_whose_requirement_is_not_a_boolean_is_malformed(world) -> None:
    doc = build_trust_list(
        "urn:federation:alpha",
        "Alpha data space",
        1,
        NOW - timedelta(days=1),
        NOW - timedelta(days=1),
        NOW + timedelta(days=30),
        [world.root_cert],
        [world.alpha_issuer()],
    )
    doc["requireClientCertificate"] = "yes"
    with pytest.raises(ConnectorError) as err:
        sign_trust_list(doc, world.root_key, world.root_cert)
    assert err.value.code == "trust_list.malformed" and err.value.where == "requireClientCertificate"
