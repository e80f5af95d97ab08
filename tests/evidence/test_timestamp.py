from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.evidence import timestamp as ts
from connector.evidence.errors import EvidenceError

POLICY = "1.3.6.1.4.1.99999.1.1"
DIGEST = hashlib.sha256(b"checkpoint jws").digest()


@pytest.fixture(scope="module")
def tsa(fed: Any) -> tuple[Any, x509.Certificate]:
    return ts.issue_tsa_certificate(fed.key, fed.root, "Federation A TSA", 30, now=fed.now)


@pytest.fixture(scope="module")
def good_token(fed: Any, tsa: tuple) -> bytes:
    return ts.token_of(stamp(fed, tsa))


def stamp(fed: Any, tsa: tuple, *, nonce: int | None = 42, now: Any = None, cert_req: bool = True, **kw: Any) -> bytes:
    key, cert = tsa
    request = ts.make_request(DIGEST, nonce, cert_req=cert_req, **kw)
    return ts.respond(request, key, cert, [fed.root], serial=7, now=now or fed.now, policy_oid=POLICY)


def refusal(call: Any) -> str:
    with pytest.raises(EvidenceError) as err:
        call()
    return err.value.code


def test_round_trip(fed: Any, tsa: tuple) -> None:
    response = stamp(fed, tsa)
    result = ts.verify_response(response, DIGEST, 42, [fed.root], fed.now, policy=POLICY)
    assert result.gen_time == fed.now
    assert (result.serial, result.policy, result.nonce) == (7, POLICY, 42)
    assert "Federation A TSA" in result.tsa_name and result.tsa_cert == tsa[1]
    assert result.accuracy is None


def test_stored_token_verifies_on_its_own(fed: Any, tsa: tuple) -> None:
    token = ts.token_of(stamp(fed, tsa))
    result = ts.verify_response(token, DIGEST, 42, [fed.root], fed.now)
    assert result.token == token
    later = ts.verify_response(result.token, DIGEST, None, [fed.root], fed.now + timedelta(days=3))
    assert later.gen_time == fed.now


def test_request_is_a_der_timestampreq(fed: Any) -> None:
    request = tsp.TimeStampReq.load(ts.make_request(DIGEST, 5, policy=POLICY), strict=True)
    assert request["version"].native == "v1"
    assert request["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert request["message_imprint"]["hashed_message"].native == DIGEST
    assert (request["nonce"].native, request["req_policy"].dotted, request["cert_req"].native) == (5, POLICY, True)


def test_token_follows_rfc_3161_structure(fed: Any, tsa: tuple) -> None:
    token = cms.ContentInfo.load(ts.token_of(stamp(fed, tsa)))
    signed = token["content"]
    assert signed["version"].native == "v3"
    assert signed["encap_content_info"]["content_type"].native == "tst_info"
    attrs = {a["type"].native for a in signed["signer_infos"][0]["signed_attrs"]}
    assert {"content_type", "message_digest", "signing_certificate_v2"} <= attrs


def test_wrong_digest_is_refused(fed: Any, tsa: tuple) -> None:
    other = hashlib.sha256(b"something else").digest()
    assert refusal(lambda: ts.verify_response(stamp(fed, tsa), other, 42, [fed.root], fed.now)) == "timestamp.imprint"


def test_wrong_nonce_is_refused(fed: Any, tsa: tuple) -> None:
    assert refusal(lambda: ts.verify_response(stamp(fed, tsa), DIGEST, 43, [fed.root], fed.now)) == "timestamp.nonce"


def test_missing_nonce_is_refused_when_one_was_sent(fed: Any, tsa: tuple) -> None:
    response = stamp(fed, tsa, nonce=None)
    assert refusal(lambda: ts.verify_response(response, DIGEST, 42, [fed.root], fed.now)) == "timestamp.nonce"


def test_untrusted_tsa_is_refused(fed: Any, rogue: Any) -> None:
    rogue_tsa = ts.issue_tsa_certificate(rogue.key, rogue.root, "Rogue TSA", 30, now=fed.now)
    response = stamp(fed, rogue_tsa)
    assert refusal(lambda: ts.verify_response(response, DIGEST, 42, [fed.root], fed.now)) == "certpath.untrusted"


@pytest.mark.parametrize(
    "eku, critical",
    [
        (None, True),
        ([ExtendedKeyUsageOID.TIME_STAMPING], False),
        ([ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.CLIENT_AUTH], True),
        ([ExtendedKeyUsageOID.CODE_SIGNING], True),
    ],
)
def test_tsa_certificate_without_exclusive_critical_eku_is_refused(fed: Any, eku: Any, critical: bool) -> None:
    bad = fed.tsa(eku=eku, eku_critical=critical)
    response = stamp(fed, bad)
    assert refusal(lambda: ts.verify_response(response, DIGEST, 42, [fed.root], fed.now)) == "timestamp.eku"


def test_tsa_certificate_with_other_key_usages_is_refused(fed: Any) -> None:
    bad = fed.tsa(usages=("digital_signature", "key_encipherment"))
    response = stamp(fed, bad)
    assert refusal(lambda: ts.verify_response(response, DIGEST, 42, [fed.root], fed.now)) == "timestamp.key_usage"


def test_tsa_certificate_expired_at_gen_time_is_refused(fed: Any, tsa: tuple) -> None:
    response = stamp(fed, tsa, now=fed.now + timedelta(days=40))
    assert (
        refusal(lambda: ts.verify_response(response, DIGEST, 42, [fed.root], fed.now + timedelta(days=40)))
        == "certpath.validity"
    )


def test_time_stamp_from_the_future_is_refused(fed: Any, tsa: tuple) -> None:
    response = stamp(fed, tsa, now=fed.now + timedelta(hours=1))
    assert refusal(lambda: ts.verify_response(response, DIGEST, 42, [fed.root], fed.now)) == "timestamp.future"


def test_unexpected_policy_is_refused(fed: Any, tsa: tuple) -> None:
    assert (
        refusal(lambda: ts.verify_response(stamp(fed, tsa), DIGEST, 42, [fed.root], fed.now, policy="1.2.3.4"))
        == "timestamp.policy"
    )


def test_token_without_certificate_needs_it_supplied(fed: Any, tsa: tuple) -> None:
    response = stamp(fed, tsa, cert_req=False)
    signed = cms.ContentInfo.load(ts.token_of(response))["content"]
    assert signed["certificates"].native is None
    assert refusal(lambda: ts.verify_response(response, DIGEST, 42, [fed.root], fed.now)) == "timestamp.signer_unknown"
    assert ts.verify_response(response, DIGEST, 42, [fed.root], fed.now, certificates=[tsa[1]])


def _resign(response: bytes, key: Any, mutate: Any) -> bytes:
    """Change the signed attributes of a token and sign them again with the TSA key."""
    resp = ts._TimeStampResp.load(response)
    token = resp["time_stamp_token"]
    signer_info = token["content"]["signer_infos"][0]
    attrs = cms.CMSAttributes.load(b"\x31" + signer_info["signed_attrs"].dump()[1:])
    mutate(attrs)
    attrs = cms.CMSAttributes.load(attrs.dump(force=True))
    signer_info["signed_attrs"] = attrs
    signer_info["signature"] = key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256()))
    return bytes(resp.dump(force=True))


def test_signing_certificate_attribute_for_another_certificate_is_refused(fed: Any, tsa: tuple) -> None:
    def swap_hash(attrs: cms.CMSAttributes) -> None:
        for attr in attrs:
            if attr["type"].native == "signing_certificate_v2":
                attr["values"][0]["certs"][0]["cert_hash"] = hashlib.sha256(b"other cert").digest()

    forged = _resign(stamp(fed, tsa), tsa[0], swap_hash)
    code = refusal(lambda: ts.verify_response(forged, DIGEST, 42, [fed.root], fed.now))
    assert code == "timestamp.signing_certificate"


def test_missing_signing_certificate_attribute_is_refused(fed: Any, tsa: tuple) -> None:
    def drop(attrs: cms.CMSAttributes) -> None:
        for index, attr in enumerate(list(attrs)):
            if attr["type"].native == "signing_certificate_v2":
                del attrs[index]

    forged = _resign(stamp(fed, tsa), tsa[0], drop)
    code = refusal(lambda: ts.verify_response(forged, DIGEST, 42, [fed.root], fed.now))
    assert code == "timestamp.signing_certificate"


def test_wrong_content_type_attribute_is_refused(fed: Any, tsa: tuple) -> None:
    def retype(attrs: cms.CMSAttributes) -> None:
        for attr in attrs:
            if attr["type"].native == "content_type":
                attr["values"] = ["data"]

    forged = _resign(stamp(fed, tsa), tsa[0], retype)
    assert refusal(lambda: ts.verify_response(forged, DIGEST, 42, [fed.root], fed.now)) == "timestamp.content_type"


def test_changed_tstinfo_breaks_the_message_digest(fed: Any, tsa: tuple) -> None:
    response = stamp(fed, tsa)
    resp = ts._TimeStampResp.load(response)
    encap = resp["time_stamp_token"]["content"]["encap_content_info"]
    tst = tsp.TSTInfo.load(encap["content"].contents)
    tst["serial_number"] = 8
    encap["content"] = cms.ParsableOctetString(tst.dump(force=True))
    forged = resp.dump(force=True)
    assert refusal(lambda: ts.verify_response(forged, DIGEST, 42, [fed.root], fed.now)) == "timestamp.message_digest"


def test_changed_signature_is_refused(fed: Any, tsa: tuple) -> None:
    other_key = ec.generate_private_key(ec.SECP256R1())
    forged = _resign(stamp(fed, tsa), other_key, lambda attrs: None)
    assert refusal(lambda: ts.verify_response(forged, DIGEST, 42, [fed.root], fed.now)) == "timestamp.signature"


def _imprint(algorithm: str, length: int) -> dict[str, Any]:
    return {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": b"1" * length}


def _request_with(**fields: Any) -> bytes:
    base = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": DIGEST},
    }
    base.update(fields)
    return bytes(tsp.TimeStampReq(base).dump())


@pytest.mark.parametrize(
    "request_der, failure",
    [
        (b"garbage", "bad_data_format"),
        (_request_with(message_imprint=_imprint("sha1", 20)), "bad_alg"),
        (_request_with(message_imprint=_imprint("sha256", 20)), "bad_data_format"),
        (_request_with(req_policy="1.2.3"), "unaccepted_policy"),
        (_request_with(version="v2"), "bad_request"),
        (_request_with(extensions=[{"extn_id": "1.2.3.4", "extn_value": b"x"}]), "unaccepted_extensions"),
    ],
)
def test_responder_rejects_what_it_cannot_serve(fed: Any, tsa: tuple, request_der: bytes, failure: str) -> None:
    key, cert = tsa
    response = ts.respond(request_der, key, cert, [fed.root], serial=1, now=fed.now, policy_oid=POLICY)
    status = ts._TimeStampResp.load(response)["status"]
    assert status["status"].native == "rejection"
    assert status["fail_info"].native == {failure}
    assert refusal(lambda: ts.verify_response(response, DIGEST, None, [fed.root], fed.now)) == "timestamp.status"


def test_responder_serves_sha512_imprints(fed: Any, tsa: tuple) -> None:
    key, cert = tsa
    digest = hashlib.sha512(b"x").digest()
    request = _request_with(message_imprint={"hash_algorithm": {"algorithm": "sha512"}, "hashed_message": digest})
    response = ts.respond(request, key, cert, [fed.root], serial=1, now=fed.now, policy_oid=POLICY)
    tst = tsp.TSTInfo.load(
        ts._TimeStampResp.load(response)["time_stamp_token"]["content"]["encap_content_info"]["content"].contents
    )
    assert tst["message_imprint"]["hashed_message"].native == digest


def test_request_needs_a_sha256_digest() -> None:
    assert refusal(lambda: ts.make_request(b"short", 1)) == "timestamp.request"


def test_issued_tsa_certificate_has_the_rfc_3161_profile(fed: Any, tsa: tuple) -> None:
    _, cert = tsa
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    assert cert.issuer == fed.root.subject
    cert.verify_directly_issued_by(fed.root)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_verifier_refuses_arbitrary_bytes_with_evidence_errors(fed: Any, blob: bytes) -> None:
    with pytest.raises(EvidenceError):
        ts.verify_response(blob, DIGEST, None, [fed.root], fed.now)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_responder_answers_arbitrary_bytes_with_a_rejection(fed: Any, tsa: tuple, blob: bytes) -> None:
    key, cert = tsa
    response = ts.respond(blob, key, cert, [fed.root], serial=1, now=fed.now, policy_oid=POLICY)
    assert ts._TimeStampResp.load(response)["status"]["status"].native in ("rejection", "granted")


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@settings(max_examples=200, deadline=None)
@given(position=st.integers(min_value=0), value=st.integers(0, 255))
def test_any_changed_byte_of_a_token_is_refused_or_harmless(
    fed: Any, good_token: bytes, position: int, value: int
) -> None:
    token = bytearray(good_token)
    position %= len(token)
    if token[position] == value:
        return
    token[position] = value
    try:
        result = ts.verify_response(bytes(token), DIGEST, 42, [fed.root], fed.now)
    except EvidenceError:
        return
    # Only bytes outside what the signature covers (the certificate set, unsigned fields) may change
    # without a refusal, and then what was vouched for must be unchanged.
    assert (result.gen_time, result.serial, result.nonce, result.policy) == (fed.now, 7, 42, POLICY)
