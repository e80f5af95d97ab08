from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector import jws
from connector.errors import ConnectorError
from connector.keys import generate_key
from connector.trust.did import AUTHENTICATION, parse_did_document
from connector.trust.presentations import (
    PresentationResponseMessage,
    issue_presentation,
    parse_presentation_query,
    parse_presentation_response,
    presentation_query,
    select_credentials,
    verify_presentation,
)
from connector.trust.scopes import parse_scope, type_scope

DCP = "https://w3id.org/dspace-dcp/v1.0/dcp.jsonld"
MEMBERSHIP_SCOPE = "org.eclipse.dspace.dcp.vc.type:MembershipCredential:read"


def refused(code: str, fn, *args, **kw) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args, **kw)
    assert err.value.code == code, f"{err.value.code}: {err.value.reason}"
    return err.value


def verify(world, now, vp: str, **kw):
    args = dict(holder_document=world.a.document, expected_holder=world.a.did, verifier_did=world.b.did, now=now)
    args.update(kw)
    return verify_presentation(vp, **args)


@pytest.fixture
def vc(world) -> str:
    return world.membership(world.a.did)


@pytest.fixture
def vp(world, now, vc) -> str:
    return issue_presentation(world.a.key, world.a.kid, world.a.did, world.b.did, [vc], now, nonce="n-1")


def test_presentation_envelopes_credentials_and_round_trips(world, now, vc, vp) -> None:
    header = jws.read_header(vp)
    assert header["typ"] == "vp+jwt" and header["kid"] == world.a.kid
    claims = json.loads(jws.read_payload_unverified(vp))
    assert claims["type"] == ["VerifiablePresentation"]
    assert claims["holder"] == claims["iss"] == world.a.did
    assert claims["aud"] == world.b.did
    assert claims["verifiableCredential"] == [
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "id": "data:application/vc+jwt," + vc,
            "type": "EnvelopedVerifiableCredential",
        }
    ]
    verified = verify(world, now, vp)
    assert verified.holder == world.a.did
    assert verified.credentials == (vc,)
    assert verified.nonce == "n-1"
    assert verified.expires_at == now + timedelta(seconds=300)


def test_presentation_signed_by_someone_else_than_the_holder_is_refused(world, now, vc) -> None:
    # org-b signs a presentation naming org-a as holder with its own key: the key is not the holder's.
    forged = issue_presentation(world.b.key, world.b.kid, world.b.did, world.b.did, [vc], now)
    claims = json.loads(jws.read_payload_unverified(forged))
    claims.update(holder=world.a.did, iss=world.a.did)
    token = jws.sign_compact(world.b.key, json.dumps(claims).encode(), {"typ": "vp+jwt", "kid": world.b.kid})
    refused("presentation.signer_not_holder", verify, world, now, token)


def test_presentation_signed_with_a_foreign_key_under_the_holders_kid_is_refused(world, now, vc) -> None:
    forged = issue_presentation(generate_key(), world.a.kid, world.a.did, world.b.did, [vc], now)
    refused("presentation.signature", verify, world, now, forged)


def test_presentation_of_another_holder_is_refused(world, now) -> None:
    vp_b = issue_presentation(world.b.key, world.b.kid, world.b.did, world.b.did, [], now)
    refused("presentation.holder_mismatch", verify, world, now, vp_b, holder_document=world.b.document)


def test_presentation_for_another_verifier_is_refused(world, now, vc) -> None:
    other = issue_presentation(world.a.key, world.a.kid, world.a.did, "did:web:localhost%3A8443:org-c", [vc], now)
    refused("presentation.audience", verify, world, now, other)


def test_expired_presentation_is_refused(world, now, vp) -> None:
    refused("presentation.expired", verify, world, now + timedelta(minutes=10), vp)


def test_presentation_with_a_long_lifetime_is_refused(world, now, vc) -> None:
    long_lived = issue_presentation(
        world.a.key, world.a.kid, world.a.did, world.b.did, [vc], now, lifetime=timedelta(days=1)
    )
    refused("presentation.lifetime", verify, world, now, long_lived)


def test_presentation_key_needs_the_authentication_relationship(world, now, vp) -> None:
    doc = copy.deepcopy(world.a.document_json)
    del doc[AUTHENTICATION]
    refused(
        "presentation.kid_relationship", verify, world, now, vp, holder_document=parse_did_document(doc, world.a.did)
    )


def test_bare_string_credentials_are_refused(world, now, vc) -> None:
    claims = json.loads(
        jws.read_payload_unverified(issue_presentation(world.a.key, world.a.kid, world.a.did, world.b.did, [], now))
    )
    claims["verifiableCredential"] = [vc]
    token = jws.sign_compact(world.a.key, json.dumps(claims).encode(), {"typ": "vp+jwt", "kid": world.a.kid})
    refused("presentation.malformed", verify, world, now, token)


# --- DCP messages -----------------------------------------------------------------------------------------


def test_query_message_round_trip() -> None:
    query = presentation_query([MEMBERSHIP_SCOPE])
    body = query.to_json()
    assert body == {"@context": [DCP], "type": "PresentationQueryMessage", "scope": [MEMBERSHIP_SCOPE]}
    assert parse_presentation_query(query.body()) == query
    assert query.scopes == (parse_scope(MEMBERSHIP_SCOPE),)


def test_query_with_a_presentation_definition_is_unsupported() -> None:
    refused(
        "dcp.presentation_definition_unsupported",
        parse_presentation_query,
        {"@context": [DCP], "type": "PresentationQueryMessage", "presentationDefinition": {"id": "x"}},
    )


@pytest.mark.parametrize(
    "message",
    [
        {"@context": [DCP], "type": "PresentationQueryMessage"},
        {"@context": [DCP], "type": "PresentationQueryMessage", "scope": []},
        {
            "@context": [DCP],
            "type": "PresentationQueryMessage",
            "scope": [MEMBERSHIP_SCOPE],
            "presentationDefinition": {},
        },
        {"@context": DCP, "type": "PresentationQueryMessage", "scope": [MEMBERSHIP_SCOPE]},
        {"@context": ["https://example.com"], "type": "PresentationQueryMessage", "scope": [MEMBERSHIP_SCOPE]},
        {"@context": [DCP], "type": "PresentationResponseMessage", "scope": [MEMBERSHIP_SCOPE]},
        {"@context": [DCP], "type": "PresentationQueryMessage", "scope": ["bogus"]},
    ],
)
def test_malformed_query_is_refused(message) -> None:
    refused("dcp.malformed", parse_presentation_query, message)


def test_response_message_round_trip(vp) -> None:
    message = PresentationResponseMessage((vp,))
    assert message.to_json() == {"@context": [DCP], "type": "PresentationResponseMessage", "presentation": [vp]}
    assert parse_presentation_response(message.body()) == message


def test_response_with_object_presentations_is_refused() -> None:
    refused(
        "dcp.malformed",
        parse_presentation_response,
        {
            "@context": [DCP],
            "type": "PresentationResponseMessage",
            "presentation": [{"type": "VerifiablePresentation"}],
        },
    )


@given(st.binary(max_size=200))
@settings(max_examples=150)
def test_message_parsers_raise_only_connector_error(data: bytes) -> None:
    for parse in (parse_presentation_query, parse_presentation_response):
        try:
            parse(data)
        except ConnectorError:
            pass


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(["@context", "type", "scope", "presentation", "presentationDefinition"]), _json))
@settings(max_examples=150)
def test_message_parsers_raise_only_connector_error_on_json(message) -> None:
    for parse in (parse_presentation_query, parse_presentation_response):
        try:
            parse(message)
        except ConnectorError:
            pass


def test_holder_selects_credentials_by_granted_scope(world) -> None:
    membership, organization = world.membership(world.a.did), world.organization(world.a.did)
    chosen = select_credentials([membership, organization], [parse_scope(type_scope("OrganizationCredential"))])
    assert chosen == (organization,)


_claims = st.dictionaries(
    st.sampled_from(
        ["@context", "type", "holder", "verifiableCredential", "iss", "aud", "jti", "nonce", "iat", "exp", "nbf"]
    ),
    _json,
)


@given(claims=_claims)
@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_presentation_verifier_raises_only_connector_error_on_signed_junk(world, now, claims) -> None:
    token = jws.sign_compact(world.a.key, json.dumps(claims).encode(), {"typ": "vp+jwt", "kid": world.a.kid})
    try:
        verify(world, now, token)
    except ConnectorError:
        pass
