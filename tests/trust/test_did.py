from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import ConnectorError
from connector.keys import generate_key, public_jwk, same_public_key
from connector.trust.did import (
    ASSERTION_METHOD,
    AUTHENTICATION,
    CAPABILITY_INVOCATION,
    DidKey,
    build_did_document,
    did_from_certificate,
    did_to_url,
    parse_did,
    parse_did_document,
    split_did_url,
    url_to_did,
    verify_key_certificate,
)
from connector.trust.vocab import CREDENTIAL_SERVICE, DATA_SERVICE

# --- did:web <-> URL -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:localhost%3A8443:org-a", "https://localhost:8443/org-a/did.json"),
        ("did:web:example.com", "https://example.com/.well-known/did.json"),
        ("did:web:example.com%3A9000", "https://example.com:9000/.well-known/did.json"),
        ("did:web:w3c-ccg.github.io:user:alice", "https://w3c-ccg.github.io/user/alice/did.json"),
    ],
)
def test_did_web_maps_to_its_document_url_and_back(did: str, url: str) -> None:
    assert did_to_url(did) == url
    assert url_to_did(url) == did


@pytest.mark.parametrize(
    "did",
    [
        "did:key:z6Mk",
        "did:web:",
        "did:web:Example.com",  # not the canonical lower-case spelling
        "did:web:127.0.0.1",  # did:web forbids IP addresses
        "did:web:localhost%3a8443",  # lower-case hex refused (one spelling per participant)
        "did:web:localhost%3A0",
        "did:web:localhost%3A65536",
        "did:web:localhost%3A08443",
        "did:web:localhost:..:etc",
        "did:web:localhost:.",
        "did:web:localhost::a",
        "did:web:localhost:a%2Fb",
        "did:web:-bad.example",
        "did:web:exa_mple.com",
        "did:web:localhost:org a",
        "did:web:example.com:.well-known",
    ],
)
def test_invalid_did_web_is_refused_with_did_invalid(did: str) -> None:
    with pytest.raises(ConnectorError) as err:
        parse_did(did)
    assert err.value.code == "did.invalid"


def test_unencoded_colon_starts_a_path_segment_not_a_port() -> None:
    parsed = parse_did("did:web:localhost:8443")
    assert parsed.port is None and parsed.path == ("8443",)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8443/org-a/did.json",
        "https://localhost:8443/org-a/did.json?x=1",
        "https://user@localhost/org-a/did.json",
        "https://localhost:8443/org-a/other.json",
        "https://localhost:8443/../did.json",
        "https://localhost:99999/did.json",
        "https://LOCALHOST/.well-known/did.json",
    ],
)
def test_url_that_is_not_a_did_web_document_location_is_refused(url: str) -> None:
    with pytest.raises(ConnectorError) as err:
        url_to_did(url)
    assert err.value.code == "did.invalid"


def test_did_url_splits_into_did_and_fragment() -> None:
    assert split_did_url("did:web:example.com#key-1") == ("did:web:example.com", "key-1")
    with pytest.raises(ConnectorError):
        split_did_url("did:web:example.com")


@given(st.text(max_size=80))
def test_parse_did_raises_only_connector_error(text: str) -> None:
    try:
        parse_did(text)
    except ConnectorError:
        pass


@given(st.text(max_size=80))
def test_url_to_did_raises_only_connector_error(text: str) -> None:
    try:
        url_to_did("https://" + text)
    except ConnectorError:
        pass


_label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True).filter(lambda s: not s.isdigit())
_segment = st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,8}", fullmatch=True)


@given(st.lists(_label, min_size=1, max_size=3), st.none() | st.integers(1, 65535), st.lists(_segment, max_size=3))
def test_valid_did_web_round_trips_through_its_url(labels: list[str], port: int | None, path: list[str]) -> None:
    host = ".".join(labels)
    did = ":".join(["did:web", host if port is None else f"{host}%3A{port}", *path])
    assert url_to_did(did_to_url(did)) == did


# --- DID documents ---------------------------------------------------------------------------------------


def test_built_document_has_contexts_keys_relationships_and_services(world) -> None:
    doc = world.a.document_json
    assert doc["@context"][0] == "https://www.w3.org/ns/did/v1"
    assert doc["id"] == world.a.did
    method = doc["verificationMethod"][0]
    assert method["type"] == "JsonWebKey2020"
    assert method["publicKeyJwk"]["crv"] == "P-256"
    assert len(method["publicKeyJwk"]["x5c"]) == 2
    for relation in (AUTHENTICATION, ASSERTION_METHOD, CAPABILITY_INVOCATION):
        assert doc[relation] == [world.a.kid]
    types = {s["type"]: s["serviceEndpoint"] for s in doc["service"]}
    assert types[CREDENTIAL_SERVICE] == "https://localhost:8443/org-a/cs"
    assert types[DATA_SERVICE] == "https://localhost:8443/org-a/dsp"


def test_parsed_document_hands_out_the_key_for_its_relationships(world) -> None:
    doc = parse_did_document(json.dumps(world.a.document_json).encode(), world.a.did)
    assert same_public_key(doc.key(world.a.kid, AUTHENTICATION), world.a.key)
    assert same_public_key(doc.key("#key-1", CAPABILITY_INVOCATION), world.a.key)
    assert doc.credential_service_url == "https://localhost:8443/org-a/cs"
    assert doc.data_service_url == "https://localhost:8443/org-a/dsp"


def test_document_for_another_did_is_refused(world) -> None:
    with pytest.raises(ConnectorError) as err:
        parse_did_document(world.a.document_json, world.b.did)
    assert err.value.code == "did.document_mismatch"


def test_kid_missing_from_document_is_refused(world) -> None:
    with pytest.raises(ConnectorError) as err:
        world.a.document.key(f"{world.a.did}#key-9")
    assert err.value.code == "did.key_unknown"


def test_kid_outside_the_required_relationship_is_refused(world) -> None:
    doc = copy.deepcopy(world.a.document_json)
    del doc[CAPABILITY_INVOCATION]
    parsed = parse_did_document(doc, world.a.did)
    assert parsed.key(world.a.kid, AUTHENTICATION)
    with pytest.raises(ConnectorError) as err:
        parsed.key(world.a.kid, CAPABILITY_INVOCATION)
    assert err.value.code == "did.key_relationship"


def test_key_that_is_not_p256_is_refused(world) -> None:
    doc = copy.deepcopy(world.a.document_json)
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    jwk = doc["verificationMethod"][0]["publicKeyJwk"]
    jwk.update(crv="P-384", x=str(p384.x), y=str(p384.y))
    del jwk["x5c"]
    with pytest.raises(ConnectorError) as err:
        parse_did_document(doc, world.a.did).key(world.a.kid)
    assert err.value.code == "did.key_unsupported"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update({"@context": ["https://example.com/ctx"]}),
        lambda d: d["verificationMethod"][0].update(controller="did:web:evil.example"),
        lambda d: d["verificationMethod"][0]["publicKeyJwk"].update(d="c2VjcmV0"),
        lambda d: d["verificationMethod"].append(dict(d["verificationMethod"][0])),
        lambda d: d.update(authentication=["did:web:localhost%3A8443:org-a#nope"]),
        lambda d: d["verificationMethod"][0].update(id="did:web:other.example#key-1"),
        lambda d: d["verificationMethod"][0]["publicKeyJwk"].update(x5c=["not base64!"]),
        lambda d: d.update(service={"id": "x"}),
    ],
)
def test_malformed_document_is_refused(world, mutate) -> None:
    doc = copy.deepcopy(world.a.document_json)
    mutate(doc)
    with pytest.raises(ConnectorError) as err:
        parse_did_document(doc, world.a.did)
    assert err.value.code == "did.document_malformed"


def test_service_endpoint_must_be_https(world) -> None:
    doc = copy.deepcopy(world.a.document_json)
    doc["service"][0]["serviceEndpoint"] = "http://localhost:8443/org-a/cs"
    with pytest.raises(ConnectorError) as err:
        _ = parse_did_document(doc, world.a.did).credential_service_url
    assert err.value.code == "did.service_invalid"


def test_missing_credential_service_is_reported(world) -> None:
    doc = copy.deepcopy(world.a.document_json)
    doc["service"] = doc["service"][1:]
    with pytest.raises(ConnectorError) as err:
        _ = parse_did_document(doc, world.a.did).credential_service_url
    assert err.value.code == "did.service_missing"


def test_builder_refuses_chain_for_another_key(world) -> None:
    with pytest.raises(ConnectorError) as err:
        build_did_document(
            world.a.did,
            [DidKey("key-1", generate_key().public_key(), (world.a.cert, world.root_cert))],
            "https://x.example/cs",
            "https://x.example/dsp",
        )
    assert err.value.code == "did.document_invalid"


@given(st.binary(max_size=300))
@settings(max_examples=150)
def test_document_parser_raises_only_connector_error_on_bytes(data: bytes) -> None:
    try:
        parse_did_document(data, "did:web:example.com")
    except ConnectorError:
        pass


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@given(
    st.fixed_dictionaries(
        {"@context": st.just(["https://www.w3.org/ns/did/v1"]), "id": st.just("did:web:example.com")},
        optional={
            "verificationMethod": _json,
            "authentication": _json,
            "service": _json,
            "capabilityInvocation": _json,
        },
    )
)
@settings(max_examples=150)
def test_document_parser_raises_only_connector_error_on_json(doc) -> None:
    try:
        parsed = parse_did_document(doc, "did:web:example.com")
        for method in parsed.methods:
            parsed.key(method.id, AUTHENTICATION)
    except ConnectorError:
        pass


# --- certificates ---------------------------------------------------------------------------------------


def test_participant_id_is_read_from_the_certificate_uri_san(world) -> None:
    assert did_from_certificate(world.a.cert) == world.a.did


def test_published_key_chains_to_the_federation_root(world, now) -> None:
    leaf = verify_key_certificate(world.a.document, world.a.kid, [world.root_cert], now)
    assert leaf == world.a.cert


def test_key_chain_to_an_unknown_root_is_refused(world, pki, now) -> None:
    _, other_root = pki.root("Other root")
    with pytest.raises(ConnectorError) as err:
        verify_key_certificate(world.a.document, world.a.kid, [other_root], now)
    assert err.value.code == "did.key_certificate"


def test_key_certificate_naming_another_did_is_refused(world, now) -> None:
    doc = copy.deepcopy(world.b.document_json)
    # org-b publishes org-a's certificate chain with its own key: the SAN and the key both disagree.
    doc["verificationMethod"][0]["publicKeyJwk"]["x5c"] = world.a.document_json["verificationMethod"][0][
        "publicKeyJwk"
    ]["x5c"]
    with pytest.raises(ConnectorError) as err:
        verify_key_certificate(parse_did_document(doc, world.b.did), world.b.kid, [world.root_cert], now)
    assert err.value.code == "did.key_certificate"


def test_expired_key_certificate_is_refused(world, now) -> None:
    with pytest.raises(ConnectorError) as err:
        verify_key_certificate(world.a.document, world.a.kid, [world.root_cert], now + timedelta(days=400))
    assert err.value.code == "did.key_certificate"


def test_public_jwk_in_document_matches_key(world) -> None:
    jwk = dict(world.a.document_json["verificationMethod"][0]["publicKeyJwk"])
    assert {k: jwk[k] for k in ("kty", "crv", "x", "y")} == public_jwk(world.a.key)
