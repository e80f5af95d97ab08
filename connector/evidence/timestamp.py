"""RFC 3161 time-stamps: the client's request and verification, and a minimal responder.

A time-stamp token is a CMS SignedData (RFC 5652) whose content is a TSTInfo: the TSA's signed statement that
a given digest existed at `genTime`. Verification here follows RFC 3161 section 2.4.2 and the ESS
signing-certificate rules (RFC 2634 / RFC 5035, as RFC 5816 allows for TSAs): status, content type, the signer
and its certificate binding, the signed-attribute digest and signature, the TSA certificate's critical
timeStamping-only extended key usage and its chain to the caller's anchors, then the imprint and the nonce.

The responder serves the federation authority's TSA (``application/timestamp-query`` in,
``application/timestamp-reply`` out). It signs with ECDSA P-256 / SHA-256, answers requests for SHA-256,
SHA-384 or SHA-512 imprints, supports no request extensions, and reports refusals as RFC 3161 rejections
rather than exceptions, since the reply is what the client needs to see.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import cms, core, parser, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connector.evidence.certpath import key_usage, load_usable_der, validate_path
from connector.evidence.errors import EvidenceError
from connector.evidence.rfc3339 import require_aware
from connector.keys import PrivateKey, generate_key

CONTENT_TYPE_QUERY = "application/timestamp-query"
CONTENT_TYPE_REPLY = "application/timestamp-reply"
MAX_SKEW = timedelta(minutes=5)

# Digests accepted in imprints and in the CMS signer info; SHA-1 appears only in ESS v1 certificate ids.
_DIGESTS: dict[str, tuple[type[hashes.HashAlgorithm], int]] = {
    "sha256": (hashes.SHA256, 32),
    "sha384": (hashes.SHA384, 48),
    "sha512": (hashes.SHA512, 64),
}
_ESS_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


class _TimeStampResp(core.Sequence):
    """RFC 3161 TimeStampResp; the token is OPTIONAL (absent in rejections), unlike asn1crypto's definition."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class TimeStamp:
    """A verified time-stamp."""

    gen_time: datetime
    serial: int
    tsa_name: str  # RFC 4514 subject of the TSA certificate that signed
    policy: str  # dotted OID of the TSA policy
    nonce: int | None
    accuracy: timedelta | None
    tsa_cert: x509.Certificate
    token: bytes  # the DER TimeStampToken (ContentInfo), what to keep as evidence


def _fail(code: str, reason: str, where: str | None = None) -> EvidenceError:
    return EvidenceError(f"timestamp.{code}", reason, where)


def new_nonce() -> int:
    """A fresh 64-bit nonce for a request."""
    return secrets.randbits(64)


def make_request(digest_sha256: bytes, nonce: int | None, *, policy: str | None = None, cert_req: bool = True) -> bytes:
    """A DER TimeStampReq for a SHA-256 digest. `cert_req` asks the TSA to include its certificate so the
    token verifies with nothing but the trust anchors."""
    if len(digest_sha256) != 32:
        raise _fail("request", "a SHA-256 digest is 32 bytes")
    if nonce is not None and nonce < 0:
        raise _fail("request", "the nonce must be a non-negative integer")
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest_sha256},
            "cert_req": cert_req,
        }
    )
    if policy is not None:
        request["req_policy"] = policy
    if nonce is not None:
        request["nonce"] = nonce
    return bytes(request.dump())


# --- responder ---------------------------------------------------------------------------------------------


def _rejection(fail_info: str, text: str) -> bytes:
    status = {"status": "rejection", "status_string": [text], "fail_info": {fail_info}}
    return bytes(_TimeStampResp({"status": status}).dump())


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def respond(
    request_der: bytes,
    tsa_key: PrivateKey,
    tsa_cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    serial: int,
    now: datetime,
    policy_oid: str,
) -> bytes:
    """Answer a DER TimeStampReq with a DER TimeStampResp (granted, or a rejection naming the failure).

    `chain` is what is sent after the TSA certificate when the client asks for certificates (its CA);
    `serial` must be unique per TSA, which the caller's persistent counter guarantees.
    """
    if not isinstance(tsa_key, ec.EllipticCurvePrivateKey):
        raise _fail("responder", "the TSA key must be an ECDSA key")
    require_aware(now)
    try:
        request = tsp.TimeStampReq.load(request_der, strict=True)
        version = request["version"].native
        algorithm = request["message_imprint"]["hash_algorithm"]["algorithm"].native
        hashed = request["message_imprint"]["hashed_message"].native
        req_policy = request["req_policy"].dotted if request["req_policy"].native is not None else None
        nonce = request["nonce"].native
        cert_req = bool(request["cert_req"].native)
        extensions = request["extensions"].native
    except (ValueError, TypeError, KeyError):
        return _rejection("bad_data_format", "the request is not a DER TimeStampReq")
    if version != "v1":
        return _rejection("bad_request", "only version 1 requests are supported")
    if algorithm not in _DIGESTS:
        return _rejection("bad_alg", f"unsupported imprint hash algorithm {algorithm}")
    if not isinstance(hashed, bytes) or len(hashed) != _DIGESTS[algorithm][1]:
        return _rejection("bad_data_format", "the imprint length does not match its hash algorithm")
    if req_policy is not None and req_policy != policy_oid:
        return _rejection("unaccepted_policy", f"this TSA issues time-stamps under policy {policy_oid} only")
    if extensions:
        return _rejection("unaccepted_extensions", "this TSA supports no request extensions")

    tsa_name = asn1_x509.Name.load(tsa_cert.subject.public_bytes())
    tst_info = tsp.TSTInfo(
        {
            "version": "v1",
            "policy": policy_oid,
            "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": hashed},
            "serial_number": serial,
            "gen_time": now.astimezone(UTC),
            "tsa": asn1_x509.GeneralName(name="directory_name", value=tsa_name),
        }
    )
    if nonce is not None:
        tst_info["nonce"] = nonce
    econtent = bytes(tst_info.dump())

    tsa_der = tsa_cert.public_bytes(serialization.Encoding.DER)
    issuer = asn1_x509.Name.load(tsa_cert.issuer.public_bytes())
    signed_attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "message_digest", "values": [hashlib.sha256(econtent).digest()]},
            {
                "type": "signing_certificate_v2",
                "values": [
                    {
                        "certs": [
                            {
                                "cert_hash": hashlib.sha256(tsa_der).digest(),
                                "issuer_serial": {
                                    "issuer": [asn1_x509.GeneralName(name="directory_name", value=issuer)],
                                    "serial_number": tsa_cert.serial_number,
                                },
                            }
                        ]
                    }
                ],
            },
        ]
    )
    # The signature covers the DER SET OF the attributes (RFC 5652 5.4), not their [0] form in SignerInfo.
    signature = tsa_key.sign(bytes(signed_attrs.dump()), ec.ECDSA(hashes.SHA256()))
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value={"issuer": issuer, "serial_number": tsa_cert.serial_number},
            ),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(econtent)},
            "signer_infos": [signer_info],
        }
    )
    if cert_req:
        signed_data["certificates"] = [_asn1_cert(c) for c in (tsa_cert, *chain)]
    token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    return bytes(_TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump())


# --- verification ------------------------------------------------------------------------------------------


def _token_from(data: bytes) -> cms.ContentInfo:
    """Accept either a whole TimeStampResp or a bare TimeStampToken (what gets stored as evidence)."""
    try:
        _, _, _, _, contents, _ = parser.parse(data, strict=True)
        _, _, first_tag, _, _, _ = parser.parse(contents)
    except ValueError:
        raise _fail("malformed", "not a DER time-stamp response or token") from None
    try:
        if first_tag == 16:  # SEQUENCE: PKIStatusInfo, so a response
            response = _TimeStampResp.load(data, strict=True)
            status = response["status"]["status"].native
            if status not in ("granted", "granted_with_mods"):
                text = "; ".join(response["status"]["status_string"].native or [])
                fail = sorted(response["status"]["fail_info"].native or [])
                raise _fail("status", f"the TSA refused: {status} {fail} {text}".strip())
            token = response["time_stamp_token"]
            if isinstance(token, core.Void):
                raise _fail("malformed", "a granted response without a token")
            return token
        return cms.ContentInfo.load(data, strict=True)
    except (ValueError, TypeError, KeyError):
        raise _fail("malformed", "not a DER time-stamp response or token") from None


def _attribute(attrs: cms.CMSAttributes, name: str) -> object | None:
    found = [a for a in attrs if a["type"].native == name]
    if not found:
        return None
    if len(found) > 1 or len(found[0]["values"]) != 1:
        raise _fail("malformed", f"signed attribute {name} must occur once with one value")
    return found[0]["values"][0]


def _find_signer(sid: cms.SignerIdentifier, candidates: Sequence[x509.Certificate]) -> x509.Certificate:
    for cert in candidates:
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            parsed = _asn1_cert(cert)
            if parsed.serial_number == wanted["serial_number"].native and parsed.issuer == wanted["issuer"]:
                return cert
        else:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
            if ski == sid.chosen.native:
                return cert
    raise _fail("signer_unknown", "the signer's certificate is neither in the token nor among the certificates given")


def _check_ess(attrs: cms.CMSAttributes, cert: x509.Certificate) -> None:
    """The ESS signing-certificate attribute binds the signature to this very certificate (RFC 2634 / 5035)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    parsed = _asn1_cert(cert)
    found = False
    for name, default in (("signing_certificate_v2", "sha256"), ("signing_certificate", "sha1")):
        value = _attribute(attrs, name)
        if value is None:
            continue
        found = True
        first = value["certs"][0]  # type: ignore[index]
        algorithm = first["hash_algorithm"]["algorithm"].native if name.endswith("v2") else default
        if algorithm not in _ESS_DIGESTS:
            raise _fail("signing_certificate", f"unsupported certificate hash {algorithm}")
        if _ESS_DIGESTS[algorithm](der).digest() != first["cert_hash"].native:
            raise _fail("signing_certificate", "the signing-certificate attribute names a different certificate")
        issuer_serial = first["issuer_serial"]
        if issuer_serial.native is not None:
            names = [g.chosen for g in issuer_serial["issuer"] if g.name == "directory_name"]
            if issuer_serial["serial_number"].native != parsed.serial_number or parsed.issuer not in names:
                reason = "the signing-certificate issuer/serial names a different certificate"
                raise _fail("signing_certificate", reason)
    if not found:
        raise _fail("signing_certificate", "the token has no ESS signing-certificate attribute")


def _check_signature(signer_info: cms.SignerInfo, attrs_der: bytes, cert: x509.Certificate, digest_name: str) -> None:
    # The signed bytes are the attributes as received, re-tagged from [0] IMPLICIT to SET OF.
    signed = b"\x31" + attrs_der[1:]
    algorithm = signer_info["signature_algorithm"]
    try:
        sig_hash = algorithm.hash_algo
    except ValueError:  # plain ecdsa / rsaEncryption: the digest algorithm field says which hash
        sig_hash = digest_name
    if sig_hash != digest_name:
        raise _fail("algorithm", "signature and digest algorithms disagree")
    chosen = _DIGESTS[digest_name][0]()
    signature = signer_info["signature"].native
    public = cert.public_key()
    try:
        if isinstance(public, ec.EllipticCurvePublicKey) and algorithm.signature_algo == "ecdsa":
            public.verify(signature, signed, ec.ECDSA(chosen))
        elif isinstance(public, rsa.RSAPublicKey) and algorithm.signature_algo == "rsassa_pkcs1v15":
            public.verify(signature, signed, padding.PKCS1v15(), chosen)
        else:
            raise _fail("algorithm", f"unsupported signature algorithm {algorithm['algorithm'].native}")
    except InvalidSignature:
        raise _fail("signature", "the TSA signature does not verify") from None


def _check_tsa_certificate(cert: x509.Certificate) -> None:
    """RFC 3161 2.3: exactly one extended key usage, timeStamping, marked critical."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise _fail("eku", "the TSA certificate has no extendedKeyUsage timeStamping") from None
    if list(ext.value) != [ExtendedKeyUsageOID.TIME_STAMPING] or not ext.critical:
        raise _fail("eku", "the TSA certificate's extendedKeyUsage must be timeStamping only, and critical")
    usage = key_usage(cert)
    if usage is not None:
        allowed = usage.digital_signature or usage.content_commitment
        others = usage.key_encipherment or usage.data_encipherment or usage.key_agreement
        if not allowed or others or usage.key_cert_sign or usage.crl_sign:
            raise _fail("key_usage", "the TSA certificate's keyUsage does not permit time-stamp signing")


def _accuracy(value: tsp.Accuracy) -> timedelta | None:
    if value.native is None:
        return None
    parts = value.native
    return timedelta(
        seconds=parts.get("seconds") or 0, milliseconds=parts.get("millis") or 0, microseconds=parts.get("micros") or 0
    )


def verify_response(
    response_or_token: bytes,
    digest_sha256: bytes,
    nonce: int | None,
    trust_anchors: Sequence[x509.Certificate],
    now: datetime,
    *,
    certificates: Sequence[x509.Certificate] = (),
    policy: str | None = None,
    max_skew: timedelta = MAX_SKEW,
) -> TimeStamp:
    """Verify a DER TimeStampResp or TimeStampToken for `digest_sha256`.

    `nonce` is the one sent (None: the request had none, and none is checked). `certificates` supplements those
    in the token (a request without certReq gets none). The TSA chain is checked at the token's genTime, the
    instant the TSA vouched for; genTime itself must not lie in the future of `now`.
    """
    require_aware(now)
    # Work on a fresh parse of the token's own bytes: asn1crypto re-encodes values once they are read, and
    # what is hashed and signature-checked must be the bytes as received.
    token_der = bytes(_token_from(response_or_token).dump())
    try:
        token = cms.ContentInfo.load(token_der, strict=True)
        if token["content_type"].native != "signed_data":
            raise _fail("content_type", "the token is not CMS SignedData")
        signed_data = token["content"]
        encap = signed_data["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise _fail("content_type", "the signed content is not a TSTInfo")
        econtent = encap["content"]
        if isinstance(econtent, core.Void):
            raise _fail("malformed", "the token carries no TSTInfo")
        econtent_bytes = bytes(econtent.contents)
        tst = tsp.TSTInfo.load(econtent_bytes, strict=True)
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise _fail("malformed", "a time-stamp token has exactly one signer")
        signer_info = signer_infos[0]
        attrs_der = bytes(signer_info["signed_attrs"].dump())
        carried = signed_data["certificates"]
        # The certificate set is not signed: skip what cannot be used instead of refusing the token.
        choices = [] if isinstance(carried, core.Void) else [c for c in carried if c.name == "certificate"]
        loaded = [load_usable_der(bytes(c.chosen.dump())) for c in choices]
        embedded = [c for c in loaded if c is not None]
        candidates = [*embedded, *certificates]
        cert = _find_signer(signer_info["sid"], candidates)

        attrs = signer_info["signed_attrs"]
        if isinstance(attrs, core.Void) or len(attrs) == 0:
            raise _fail("malformed", "the signer info has no signed attributes")
        content_type = _attribute(attrs, "content_type")
        if content_type is None or content_type.native != "tst_info":  # type: ignore[attr-defined]
            raise _fail("content_type", "the content-type attribute is not id-ct-TSTInfo")
        digest_name = signer_info["digest_algorithm"]["algorithm"].native
        if digest_name not in _DIGESTS:
            raise _fail("algorithm", f"unsupported digest algorithm {digest_name}")
        message_digest = _attribute(attrs, "message_digest")
        expected = hashlib.new(digest_name, econtent_bytes).digest()
        if message_digest is None or message_digest.native != expected:  # type: ignore[attr-defined]
            raise _fail("message_digest", "the message-digest attribute does not match the TSTInfo")
        _check_signature(signer_info, attrs_der, cert, digest_name)
        _check_ess(attrs, cert)
        _check_tsa_certificate(cert)

        if tst["version"].native != "v1":
            raise _fail("malformed", "unsupported TSTInfo version")
        imprint = tst["message_imprint"]
        imprint_algorithm = imprint["hash_algorithm"]["algorithm"].native
        if imprint_algorithm != "sha256" or imprint["hashed_message"].native != digest_sha256:
            raise _fail("imprint", "the time-stamp is for a different digest")
        token_nonce = tst["nonce"].native
        if nonce is not None and token_nonce != nonce:
            raise _fail("nonce", "the time-stamp answers a different request (nonce mismatch)")
        token_policy = tst["policy"].dotted
        if policy is not None and token_policy != policy:
            raise _fail("policy", f"the time-stamp was issued under policy {token_policy}, not {policy}")
        tsa_field = tst["tsa"]
        if tsa_field.native is not None:
            if tsa_field.name != "directory_name" or tsa_field.chosen != _asn1_cert(cert).subject:
                raise _fail("tsa_name", "the TSTInfo names a different TSA than the signer")
        gen_time = tst["gen_time"].native
        if not isinstance(gen_time, datetime) or gen_time.tzinfo is None:
            raise _fail("malformed", "genTime is not a usable UTC time")
        serial = tst["serial_number"].native
        accuracy = _accuracy(tst["accuracy"])
    except (ValueError, TypeError, KeyError, IndexError, UnsupportedAlgorithm):
        raise _fail("malformed", "the time-stamp token is not well-formed") from None
    if gen_time > now + max_skew:
        raise _fail("future", "the time-stamp's genTime lies in the future")
    validate_path(cert, candidates, trust_anchors, gen_time, where="tsa")
    return TimeStamp(
        gen_time=gen_time,
        serial=serial,
        tsa_name=cert.subject.rfc4514_string(),
        policy=token_policy,
        nonce=token_nonce,
        accuracy=accuracy,
        tsa_cert=cert,
        token=token_der,
    )


def token_of(response_der: bytes) -> bytes:
    """The DER TimeStampToken inside a granted response (unverified; verify it with `verify_response`)."""
    return bytes(_token_from(response_der).dump())


# --- issuing a TSA certificate -----------------------------------------------------------------------------


def issue_tsa_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    name: str | x509.Name,
    valid_days: int,
    *,
    now: datetime | None = None,
) -> tuple[PrivateKey, x509.Certificate]:
    """A new P-256 key and its TSA certificate from the CA: keyUsage digitalSignature, extendedKeyUsage
    timeStamping (critical, alone, as RFC 3161 requires)."""
    start = (now or datetime.now(UTC)) - timedelta(minutes=1)  # tolerate small clock differences
    key = generate_key()
    subject = name if isinstance(name, x509.Name) else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    try:
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        )
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())  # type: ignore[arg-type]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(aki, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert
