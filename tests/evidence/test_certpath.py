from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509

from connector.evidence.certpath import MAX_CHAIN, certs_from_x5c, uri_sans, validate_path, x5c_of
from connector.evidence.errors import EvidenceError
from connector.keys import generate_key


def refusal(call: Any) -> str:
    with pytest.raises(EvidenceError) as err:
        call()
    return err.value.code


def test_path_to_the_root_through_an_intermediate(fed: Any, build: Any) -> None:
    mid_key = generate_key()
    mid = build("Intermediate", mid_key, fed.key, fed.root, ca=True, path_length=0, usages=("key_cert_sign",))
    leaf_key = generate_key()
    leaf = build("leaf", leaf_key, mid_key, mid, uris=["did:web:x"])
    path = validate_path(leaf, [mid], [fed.root], fed.now)
    assert path.certs == (leaf, mid, fed.root) and path.leaf == leaf and path.anchor == fed.root
    assert uri_sans(leaf) == ("did:web:x",)


def test_path_length_constraint_is_enforced(fed: Any, build: Any) -> None:
    top_key, low_key, leaf_key = generate_key(), generate_key(), generate_key()
    top = build("Top", top_key, fed.key, fed.root, ca=True, path_length=0, usages=("key_cert_sign",))
    low = build("Low", low_key, top_key, top, ca=True, usages=("key_cert_sign",))
    leaf = build("leaf", leaf_key, low_key, low)
    assert refusal(lambda: validate_path(leaf, [low, top], [fed.root], fed.now)) == "certpath.path_length"


def test_issuer_that_is_not_a_ca_is_refused(fed: Any, build: Any) -> None:
    fake_ca_key, leaf_key = generate_key(), generate_key()
    fake_ca = build("Not a CA", fake_ca_key, fed.key, fed.root)
    leaf = build("leaf", leaf_key, fake_ca_key, fake_ca)
    assert refusal(lambda: validate_path(leaf, [fake_ca], [fed.root], fed.now)) == "certpath.not_ca"


def test_issuer_without_cert_sign_usage_is_refused(fed: Any, build: Any) -> None:
    mid_key, leaf_key = generate_key(), generate_key()
    mid = build("Mid", mid_key, fed.key, fed.root, ca=True, usages=("digital_signature",))
    leaf = build("leaf", leaf_key, mid_key, mid)
    assert refusal(lambda: validate_path(leaf, [mid], [fed.root], fed.now)) == "certpath.key_usage"


def test_ca_certificate_used_as_signer_is_refused(fed: Any, build: Any) -> None:
    key = generate_key()
    sub_ca = build("Sub CA", key, fed.key, fed.root, ca=True, usages=("key_cert_sign", "digital_signature"))
    assert refusal(lambda: validate_path(sub_ca, [], [fed.root], fed.now)) == "certpath.leaf_is_ca"


def test_unknown_critical_extension_is_refused(fed: Any, build: Any) -> None:
    ext = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.7"), b"\x05\x00")
    leaf = build("leaf", generate_key(), fed.key, fed.root, extra=[(ext, True)])
    assert refusal(lambda: validate_path(leaf, [], [fed.root], fed.now)) == "certpath.critical_extension"
    tolerated = build("leaf", generate_key(), fed.key, fed.root, extra=[(ext, False)])
    assert validate_path(tolerated, [], [fed.root], fed.now)


def test_certificate_outside_its_validity_is_refused(fed: Any, build: Any) -> None:
    leaf = build("leaf", generate_key(), fed.key, fed.root, not_after=fed.now - timedelta(seconds=1))
    assert refusal(lambda: validate_path(leaf, [], [fed.root], fed.now)) == "certpath.validity"
    assert validate_path(leaf, [], [fed.root], fed.now - timedelta(hours=1))


def test_certificate_with_a_forged_issuer_name_is_untrusted(fed: Any, rogue: Any, build: Any) -> None:
    # Signed by the rogue key but claiming the federation root as issuer.
    leaf = build("leaf", generate_key(), rogue.key, fed.root)
    assert refusal(lambda: validate_path(leaf, [], [fed.root], fed.now)) == "certpath.untrusted"


def test_pinned_anchor_is_a_path_of_one(fed: Any, org_a: Any) -> None:
    assert validate_path(org_a.cert, [], [org_a.cert], fed.now).certs == (org_a.cert,)


@pytest.mark.parametrize("value", [None, [], "abc", [1], ["%%%"], [base64.b64encode(b"not der").decode()]])
def test_malformed_x5c_is_refused(value: object) -> None:
    assert refusal(lambda: certs_from_x5c(value)) == "certpath.x5c"


def test_an_x5c_longer_than_a_path_may_be_is_refused(org_a: Any) -> None:
    assert certs_from_x5c(x5c_of([org_a.cert] * MAX_CHAIN))
    assert refusal(lambda: certs_from_x5c(x5c_of([org_a.cert] * (MAX_CHAIN + 1)))) == "certpath.x5c"


def test_a_renewed_root_is_preferred_to_its_expired_predecessor(fed: Any, build: Any) -> None:
    key = generate_key()
    old = build(
        "Renewed Root",
        key,
        key,
        None,
        ca=True,
        usages=("key_cert_sign",),
        not_before=fed.now - timedelta(days=400),
        not_after=fed.now - timedelta(days=1),
    )
    new = build(
        "Renewed Root", key, key, None, ca=True, usages=("key_cert_sign",), not_before=fed.now - timedelta(days=10)
    )
    leaf = build("leaf", generate_key(), key, new, not_before=fed.now - timedelta(days=30))
    assert validate_path(leaf, [], [old, new], fed.now - timedelta(days=5)).anchor == old  # both valid then
    assert validate_path(leaf, [], [old, new], fed.now).anchor == new  # the path found before no longer holds
    with pytest.raises(EvidenceError) as err:
        validate_path(leaf, [], [old], fed.now)
    assert err.value.code == "certpath.validity" and "was not valid" in err.value.reason


def test_x5c_round_trips(org_a: Any) -> None:
    assert certs_from_x5c(x5c_of([org_a.cert, *org_a.chain])) == (org_a.cert, *org_a.chain)
