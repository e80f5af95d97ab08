"""Key types and algorithms a DCP verifier handles (dcp.profiles.md: "implementors are expected to handle all
reasonably well-known crypto algorithms like RSA, EC and EdDSA"), each pinned to its key type, and how keys are
found in DID documents (base.protocol.md, "Validating Self-Issued ID Tokens", step 3).

Tokens, credentials, status lists and trust lists here are signed with PyJWT, not with this project's signer, so
that the verifier is checked against an independent implementation of JWS.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector import jws
from connector.canonical import b64url, b64url_decode, canonical_bytes
from connector.errors import ConnectorError
from connector.keys import jwk_thumbprint, public_jwk, same_public_key, verifying_key_from_jwk
from connector.trust.credentials import verify_credential
from connector.trust.did import parse_did_document
from connector.trust.presentations import verify_presentation
from connector.trust.status_list import verify_status_list
from connector.trust.tokens import check_id_token
from connector.trust.trust_list import TrustStore, build_trust_list, trusted_issuer, verify_trust_list

ALGORITHMS = ("ES256", "ES384", "EdDSA", "RS256", "PS256")
KINDS = {"p256": "ES256", "p384": "ES384", "ed25519": "EdDSA", "rsa-rs": "RS256", "rsa-ps": "PS256"}


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    rsa_key = rsa.generate_private_key(65537, 2048)
    return {
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
        "rsa-rs": rsa_key,
        "rsa-ps": rsa_key,
    }


def refused(code: str, fn, *args, **kw) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args, **kw)
    assert err.value.code == code, f"{err.value.code}: {err.value.reason}"
    return err.value


def document(did: str, methods: dict[str, Any], **relations: list[str]) -> dict[str, Any]:
    """A DID document written by hand: `methods` maps fragments to public keys or JWKs."""
    entries = []
    for fragment, key in methods.items():
        jwk = key if isinstance(key, dict) else public_jwk(key)
        entries.append({"id": f"{did}#{fragment}", "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": jwk})
    doc: dict[str, Any] = {"@context": ["https://www.w3.org/ns/did/v1"], "id": did, "verificationMethod": entries}
    for name, fragments in relations.items():
        doc[name] = [f"{did}#{f}" for f in fragments]
    return doc


def id_claims(world, now, lifetime: int = 300) -> dict[str, Any]:
    iat = int(now.timestamp())
    return {
        "iss": world.a.did,
        "sub": world.a.did,
        "aud": world.b.did,
        "jti": "urn:uuid:5b3c9c1a-0a4e-4f43-9d0c-6f0a8c2b1e11",
        "iat": iat,
        "exp": iat + lifetime,
    }


def sign(claims: dict[str, Any], key, alg: str, **header: Any) -> str:
    return pyjwt.encode(claims, key, algorithm=alg, headers=header or None)


def with_header(token: str, **changes: Any) -> str:
    h, p, s = token.split(".")
    header = json.loads(b64url_decode(h))
    header.update(changes)
    return ".".join((b64url(json.dumps(header).encode()), p, s))


def check(world, now, token: str, doc: dict[str, Any], **kw):
    return check_id_token(token, parse_did_document(doc, world.a.did), world.b.did, world.a.did, now, **kw)


# --- every key type, its one algorithm ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_id_token_signed_with_each_key_type_verifies(world, now, keys, kind) -> None:
    key = keys[kind]
    doc = document(world.a.did, {"k": key.public_key()}, capabilityInvocation=["k"])
    token = sign(id_claims(world, now), key, KINDS[kind], kid=f"{world.a.did}#k")
    assert check(world, now, token, doc).kid == f"{world.a.did}#k"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("alg", ALGORITHMS)
def test_the_algorithm_is_the_one_of_the_key_type_never_the_tokens_choice(world, now, keys, kind, alg) -> None:
    key = keys[kind]
    doc = document(world.a.did, {"k": key.public_key()}, capabilityInvocation=["k"])
    token = sign(id_claims(world, now), key, KINDS[kind], kid=f"{world.a.did}#k")
    relabelled = with_header(token, alg=alg)
    if alg in jws.algorithms_for(key.public_key()):
        if alg != KINDS[kind]:  # RS256 relabelled PS256 or the reverse: the padding differs, the signature fails
            refused("token.signature", check, world, now, relabelled, doc)
        return
    refused("token.algorithm", check, world, now, relabelled, doc)


@pytest.mark.parametrize("alg", ["none", "HS256", "HS512", "RS384", "RS512", "ES512", "PS384", "ES256K", "Ed25519", ""])
def test_algorithms_outside_the_pinned_set_are_refused_before_any_key(world, now, keys, alg) -> None:
    doc = document(world.a.did, {"k": keys["p256"].public_key()}, capabilityInvocation=["k"])
    token = with_header(sign(id_claims(world, now), keys["p256"], "ES256", kid=f"{world.a.did}#k"), alg=alg)
    refused("token.algorithm", check, world, now, token, doc)


def test_an_rsa_public_key_used_as_hmac_secret_is_refused(world, now, keys) -> None:
    public = keys["rsa-rs"].public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    doc = document(world.a.did, {"k": public}, capabilityInvocation=["k"])
    h = b64url(json.dumps({"alg": "HS256", "kid": f"{world.a.did}#k"}).encode())
    p = b64url(json.dumps(id_claims(world, now)).encode())
    import hashlib
    import hmac

    token = f"{h}.{p}.{b64url(hmac.new(pem, f'{h}.{p}'.encode(), hashlib.sha256).digest())}"
    refused("token.algorithm", check, world, now, token, doc)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rsa.generate_private_key(65537, 1024).public_key(),
        lambda: ec.generate_private_key(ec.SECP521R1()).public_key(),
        lambda: ec.generate_private_key(ec.SECP256K1()).public_key(),
    ],
    ids=["rsa-1024", "p-521", "secp256k1"],
)
def test_keys_of_unsupported_types_are_refused(world, now, make) -> None:
    public = make()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        jwk = {"kty": "RSA", "n": b64url(numbers.n.to_bytes(128, "big")), "e": "AQAB"}
    else:
        numbers = public.public_numbers()
        size = (public.curve.key_size + 7) // 8
        crv = {"secp521r1": "P-521", "secp256k1": "secp256k1"}[public.curve.name]
        jwk = {
            "kty": "EC",
            "crv": crv,
            "x": b64url(numbers.x.to_bytes(size, "big")),
            "y": b64url(numbers.y.to_bytes(size, "big")),
        }
    doc = document(world.a.did, {"k": jwk}, capabilityInvocation=["k"])
    token = with_header(
        sign(id_claims(world, now), ec.generate_private_key(ec.SECP256R1()), "ES256"), kid=f"{world.a.did}#k"
    )
    refused("token.key_unsupported", check, world, now, token, doc)
    refused("key.jwk_invalid", verifying_key_from_jwk, jwk)


def test_ed448_keys_are_refused() -> None:
    raw = (
        ed448.Ed448PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    refused("key.jwk_invalid", verifying_key_from_jwk, {"kty": "OKP", "crv": "Ed448", "x": b64url(raw)})


@pytest.mark.parametrize(
    "mutate",
    [
        lambda j: j.update(x=j["x"] + "A"),  # one coordinate byte too many (not canonical either)
        lambda j: j.update(x=j["x"][:-2]),  # too short
        lambda j: j.update(x=j["x"] + "="),  # padded
        lambda j: j.update(x=j["x"].replace("-", "+").replace("_", "/") if ("-" in j["x"] or "_" in j["x"]) else "+"),
        lambda j: j.update(d=j["x"]),  # private member
        lambda j: j.update(crv="P-384"),
        lambda j: j.update(kty="OKP"),
        lambda j: j.pop("y"),
        lambda j: j.update(y=5),
    ],
)
def test_jwks_are_read_strictly(keys, mutate) -> None:
    jwk = public_jwk(keys["p256"])
    mutate(jwk)
    refused("key.jwk_invalid", verifying_key_from_jwk, jwk)


@pytest.mark.parametrize("kind", KINDS)
def test_public_jwks_round_trip_for_every_key_type(keys, kind) -> None:
    key = keys[kind]
    jwk = public_jwk(key)
    assert same_public_key(verifying_key_from_jwk(jwk), key)
    assert jwk_thumbprint(jwk) == jwk_thumbprint(public_jwk(key.public_key()))


# --- published test vectors ------------------------------------------------------------------------------


def test_rfc8037_ed25519_signature_verifies() -> None:
    key = verifying_key_from_jwk({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
    signing_input = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    signature = b64url_decode("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
    jws.verify_signing_input(key, signing_input, signature, "EdDSA")
    with pytest.raises(jws.JwsError) as err:
        jws.verify_signing_input(key, signing_input + b".", signature, "EdDSA")
    assert err.value.code == "jws.signature"


def test_rfc7515_es256_example_verifies() -> None:
    key = verifying_key_from_jwk(
        {
            "kty": "EC",
            "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        }
    )
    token = (
        "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
        "cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
    )
    h, p, s = token.split(".")
    jws.verify_signing_input(key, f"{h}.{p}".encode(), b64url_decode(s), "ES256")
    with pytest.raises(jws.JwsError) as err:
        jws.verify_signing_input(key, f"{h}.{p}".encode(), b64url_decode(s), "ES384")
    assert err.value.code == "jws.algorithm"


def test_rfc7638_thumbprint_example() -> None:
    jwk = {
        "kty": "RSA",
        "e": "AQAB",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
            "ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8"
            "KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"
            "xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


# --- which key of a DID document -------------------------------------------------------------------------


def test_a_token_without_kid_uses_the_one_key_of_the_document(world, now, keys) -> None:
    doc = document(world.a.did, {"k": keys["ed25519"].public_key()}, capabilityInvocation=["k"])
    facts = check(world, now, sign(id_claims(world, now), keys["ed25519"], "EdDSA"), doc)
    assert facts.kid == f"{world.a.did}#k"


def test_without_kid_only_keys_usable_for_id_tokens_count(world, now, keys) -> None:
    doc = document(
        world.a.did,
        {"sig": keys["p256"].public_key(), "other": keys["p384"].public_key()},
        capabilityInvocation=["sig"],
        assertionMethod=["other"],
    )
    assert check(world, now, sign(id_claims(world, now), keys["p256"], "ES256"), doc).kid == f"{world.a.did}#sig"
    refused(
        "token.kid_relationship",
        check,
        world,
        now,
        sign(id_claims(world, now), keys["p384"], "ES384", kid=f"{world.a.did}#other"),
        doc,
    )


def test_without_kid_a_document_with_no_usable_key_refuses(world, now, keys) -> None:
    doc = document(world.a.did, {"k": keys["p256"].public_key()}, assertionMethod=["k"])
    refused("token.kid_unknown", check, world, now, sign(id_claims(world, now), keys["p256"], "ES256"), doc)


def test_an_identityhub_document_listing_keys_under_verification_method_only_serves(world, now, keys) -> None:
    doc = document(world.a.did, {"key-1": keys["p256"].public_key()})
    doc["authentication"] = []
    token = sign(id_claims(world, now), keys["p256"], "ES256", kid=f"{world.a.did}#key-1")
    assert check(world, now, token, doc).kid == f"{world.a.did}#key-1"
    assert check(world, now, sign(id_claims(world, now), keys["p256"], "ES256"), doc).kid == f"{world.a.did}#key-1"


def test_a_document_with_authentication_only_lends_those_keys_to_id_tokens(world, now, keys) -> None:
    doc = document(
        world.a.did,
        {"auth": keys["p256"].public_key(), "spare": keys["p384"].public_key()},
        authentication=["auth"],
    )
    assert check(world, now, sign(id_claims(world, now), keys["p256"], "ES256", kid=f"{world.a.did}#auth"), doc)
    spare = sign(id_claims(world, now), keys["p384"], "ES384", kid=f"{world.a.did}#spare")
    refused("token.kid_relationship", check, world, now, spare, doc)


def test_a_document_that_distinguishes_purposes_is_taken_at_its_word(world, now, keys) -> None:
    doc = document(
        world.a.did,
        {"auth": keys["p256"].public_key(), "invoke": keys["p384"].public_key()},
        authentication=["auth"],
        capabilityInvocation=["invoke"],
    )
    token = sign(id_claims(world, now), keys["p256"], "ES256", kid=f"{world.a.did}#auth")
    refused("token.kid_relationship", check, world, now, token, doc)


# --- the lifetime cap --------------------------------------------------------------------------------------


def test_the_dcp_tck_600_second_tokens_are_accepted_by_default(world, now, keys) -> None:
    doc = document(world.a.did, {"k": keys["p256"].public_key()}, capabilityInvocation=["k"])
    assert check(world, now, sign(id_claims(world, now, 600), keys["p256"], "ES256"), doc)
    refused("token.lifetime", check, world, now, sign(id_claims(world, now, 601), keys["p256"], "ES256"), doc)
    long = sign(id_claims(world, now, 3600), keys["p256"], "ES256")
    assert check(world, now, long, doc, max_lifetime=timedelta(hours=1))
    refused("token.lifetime", check, world, now, long, doc, max_lifetime=timedelta(minutes=59))


# --- credentials, status lists and trust lists signed with other key types --------------------------------


def _store_with_issuer_key(world, now, kid: str, public) -> TrustStore:
    issuer = trusted_issuer(
        world.authority_did,
        "Alpha authority",
        {kid: public},
        ("MembershipCredential", "OrganizationCredential"),
        ["https://localhost:8443/authority/status/"],
    )
    return TrustStore((verify_trust_list(world.sign_list(issuers=[issuer]), world.root_cert, now),))


@pytest.mark.parametrize("kind", KINDS)
def test_credentials_and_status_lists_signed_with_each_key_type_verify(world, now, keys, kind) -> None:
    key, alg = keys[kind], KINDS[kind]
    kid = f"{world.authority_did}#{kind}"
    store = _store_with_issuer_key(world, now, kid, key.public_key())
    claims = json.loads(jws.read_payload_unverified(world.membership(world.a.did)))
    credential = sign(claims, key, alg, kid=kid, typ="vc+jwt")
    checked = verify_credential(credential, store, world.a.did, now)
    assert checked.kid == kid
    listed = json.loads(jws.read_payload_unverified(world.status_list(revoked=(7,))))
    status = verify_status_list(
        sign(listed, key, alg, kid=kid, typ="vc+jwt"), store, world.authority_did, world.status_url, now
    )
    assert status.is_set(7)
    wrong = next(a for a in ALGORITHMS if a not in jws.algorithms_for(key.public_key()))
    refused("credential.algorithm", verify_credential, with_header(credential, alg=wrong), store, world.a.did, now)


def _root(key, name: str, now) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, algorithm)
    )


@pytest.mark.parametrize("kind", ["ed25519", "rsa-ps", "p384"])
def test_a_trust_list_anchored_by_a_root_of_another_key_type_verifies(world, now, keys, kind) -> None:
    key, alg = keys[kind], KINDS[kind]
    root = _root(key, f"{kind} root", now)
    issuer = trusted_issuer(
        world.authority_did, "Alpha", {world.issuer_kid: keys["ed25519"].public_key()}, ["MembershipCredential"], []
    )
    doc = build_trust_list(
        "urn:federation:x", "X", 1, now, now - timedelta(hours=1), now + timedelta(days=1), [root], [issuer]
    )
    x5c = [base64.b64encode(root.public_bytes(serialization.Encoding.DER)).decode()]
    token = pyjwt.api_jws.encode(
        canonical_bytes(doc), key, algorithm=alg, headers={"typ": "trust-list+jws", "x5c": x5c}
    )
    listed = verify_trust_list(token, root, now)
    assert same_public_key(listed.issuers[0].key(world.issuer_kid), keys["ed25519"])
    refused(
        "trust_list.algorithm",
        verify_trust_list,
        with_header(token, alg="ES512" if kind != "p384" else "ES256"),
        root,
        now,
    )


@pytest.mark.parametrize("kind", ["p384", "ed25519", "rsa-ps"])
def test_presentations_signed_with_each_key_type_verify(world, now, keys, kind) -> None:
    from connector.trust.presentations import issue_presentation

    key, alg = keys[kind], KINDS[kind]
    doc = parse_did_document(document(world.a.did, {"h": key.public_key()}, authentication=["h"]), world.a.did)
    ours = issue_presentation(world.a.key, world.a.kid, world.a.did, world.b.did, [world.membership(world.a.did)], now)
    claims = json.loads(jws.read_payload_unverified(ours))
    vp = sign(claims, key, alg, kid=f"{world.a.did}#h", typ="vp+jwt")
    assert verify_presentation(vp, doc, world.a.did, world.b.did, now).kid == f"{world.a.did}#h"


# --- property: a signature only ever verifies under the algorithm of its key -----------------------------


@given(kind=st.sampled_from(sorted(KINDS)), alg=st.sampled_from(ALGORITHMS), flip=st.integers(0, 10_000))
@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_verification_succeeds_only_for_the_keys_algorithm_and_intact_input(keys, kind, alg, flip) -> None:
    key = keys[kind]
    signing_input = b"eyJhbGciOiJ4In0.cGF5bG9hZA"
    signature = pyjwt.get_algorithm_by_name(KINDS[kind]).sign(signing_input, key)
    public = key.public_key()
    if alg not in jws.algorithms_for(public):
        with pytest.raises(jws.JwsError) as err:
            jws.verify_signing_input(public, signing_input, signature, alg)
        assert err.value.code == "jws.algorithm"
        return
    if alg == KINDS[kind]:
        jws.verify_signing_input(public, signing_input, signature, alg)
    tampered = bytearray(signature)
    tampered[flip % len(tampered)] ^= 1 << (flip % 8)
    with pytest.raises(jws.JwsError) as err:
        jws.verify_signing_input(public, signing_input, bytes(tampered), alg)
    assert err.value.code == "jws.signature"
