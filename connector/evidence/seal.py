"""Proof of issuer: the provider's signed statement of exactly which bytes it sent, under which agreement.

A seal is ``{"claims": {...}, "jws": "<header>..<signature>"}``: the claims travel as JSON and the detached ES256
JWS covers their RFC 8785 canonical form, signed with the provider's participant signing key. The JWS header
names the key as a DID URL (``kid``) and carries ``x5c`` [signing certificate, CA certificate], so anyone holding
the federation's root can verify the seal offline, long after the transfer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from connector import jws
from connector.canonical import canonical_bytes
from connector.errors import ConnectorError, Problem
from connector.evidence.certpath import SignerError, certs_from_x5c, check_signing_certificate, verify_signer
from connector.evidence.digest import Digest
from connector.evidence.errors import EvidenceError
from connector.keys import PrivateKey, cert_der_b64, jwk_thumbprint, public_jwk, same_public_key

SEAL_TYPE = "DataSeal"
DEFAULT_MAX_SKEW = timedelta(minutes=5)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_CLAIM_FIELDS = frozenset(
    {"type", "sha256", "size", "mediaType", "datasetId", "agreementId", "transfer", "issuer", "issuedAt"}
)


class SealError(ConnectorError):
    """A seal that cannot be accepted; the reason names the field at fault."""


def _format_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("seal times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str) or _TIME.fullmatch(value) is None:
        raise SealError("seal.malformed", "the seal time must be RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)", where)
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SealError("seal.malformed", "the seal time is not a real date and time", where) from None


@dataclass(frozen=True)
class SealClaims:
    sha256: str  # lowercase hex SHA-256 of the bytes sent
    size: int
    media_type: str
    dataset_id: str
    agreement_id: str
    provider_pid: str  # the provider's transfer process id
    consumer_pid: str  # the consumer's transfer process id
    issuer: str  # the provider's DID
    issued_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "type": SEAL_TYPE,
            "sha256": self.sha256,
            "size": self.size,
            "mediaType": self.media_type,
            "datasetId": self.dataset_id,
            "agreementId": self.agreement_id,
            "transfer": {"providerPid": self.provider_pid, "consumerPid": self.consumer_pid},
            "issuer": self.issuer,
            "issuedAt": _format_time(self.issued_at),
        }

    @classmethod
    def from_json(cls, value: Any) -> SealClaims:
        """Strict: every field present with its type, nothing else (whatever is signed must also be read)."""
        if not isinstance(value, Mapping):
            raise SealError("seal.malformed", "the seal claims must be a JSON object", "claims")
        unknown = sorted(str(k) for k in value if k not in _CLAIM_FIELDS)
        if unknown:
            reason = f"the seal claims carry unknown fields: {', '.join(unknown)}"
            raise SealError("seal.malformed", reason, unknown[0])
        if value.get("type") != SEAL_TYPE:
            raise SealError("seal.malformed", f"the claims are not a {SEAL_TYPE}", "type")
        sha = value.get("sha256")
        if not isinstance(sha, str) or _HEX64.fullmatch(sha) is None:
            raise SealError("seal.malformed", "sha256 must be 64 lowercase hex digits", "sha256")
        size = value.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise SealError("seal.malformed", "size must be a non-negative integer", "size")
        transfer = value.get("transfer")
        if not isinstance(transfer, Mapping) or set(transfer) != {"providerPid", "consumerPid"}:
            raise SealError("seal.malformed", "transfer must hold exactly providerPid and consumerPid", "transfer")
        strings = {
            "mediaType": value.get("mediaType"),
            "datasetId": value.get("datasetId"),
            "agreementId": value.get("agreementId"),
            "transfer.providerPid": transfer["providerPid"],
            "transfer.consumerPid": transfer["consumerPid"],
            "issuer": value.get("issuer"),
        }
        for where, text in strings.items():
            if not isinstance(text, str) or not text:
                raise SealError("seal.malformed", f"{where} must be a non-empty string", where)
        return cls(
            sha256=sha,
            size=size,
            media_type=strings["mediaType"],
            dataset_id=strings["datasetId"],
            agreement_id=strings["agreementId"],
            provider_pid=strings["transfer.providerPid"],
            consumer_pid=strings["transfer.consumerPid"],
            issuer=strings["issuer"],
            issued_at=_parse_time(value.get("issuedAt"), "issuedAt"),
        )

    @property
    def digest(self) -> Digest:
        return Digest(self.sha256, self.size)


@dataclass(frozen=True)
class Seal:
    claims: SealClaims
    jws: str

    def to_json(self) -> dict[str, Any]:
        """The seal as a JSON object, ready to send or store."""
        return {"claims": self.claims.to_json(), "jws": self.jws}


@dataclass(frozen=True)
class SealExpectation:
    """What the consumer knows independently of the seal and requires it to state."""

    dataset_id: str
    agreement_id: str
    provider_pid: str
    consumer_pid: str
    issuer: str


@dataclass(frozen=True)
class SealFacts:
    """A verified seal: the claims, and who vouched for the signer."""

    claims: SealClaims
    kid: str
    signer_fingerprint: str  # hex SHA-256 of the signing certificate
    anchor_subject: str  # the trusted root the signing certificate chains to
    verified_at: datetime

    @property
    def digest(self) -> Digest:
        return self.claims.digest


def make_seal(
    *,
    digest: Digest,
    media_type: str,
    dataset_id: str,
    agreement_id: str,
    provider_pid: str,
    consumer_pid: str,
    issuer: str,
    issued_at: datetime,
    signing_key: PrivateKey,
    signing_cert: x509.Certificate,
    ca_certs: Sequence[x509.Certificate],
    kid: str | None = None,
) -> Seal:
    """Seal `digest` of the bytes sent for a transfer. `kid` defaults to ``<issuer>#<JWK thumbprint>``.
    Refuses a certificate that would make the seal unverifiable (wrong key, DID, usage or validity)."""
    cert_key = signing_cert.public_key()
    if not isinstance(cert_key, ec.EllipticCurvePublicKey) or not same_public_key(signing_key, cert_key):
        raise SealError("seal.key_mismatch", "the signing key does not belong to the signing certificate")
    if issued_at.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    try:
        check_signing_certificate(signing_cert, issuer, issued_at)
    except SignerError as exc:
        raise SealError("seal.certificate", exc.reason, exc.where) from None
    kid = kid if kid is not None else f"{issuer}#{jwk_thumbprint(public_jwk(signing_key))}"
    if not kid.startswith(issuer + "#"):
        raise SealError("seal.kid", "kid must be a DID URL of the issuer (issuer#fragment)", "kid")
    claims = SealClaims(
        sha256=digest.sha256,
        size=digest.size,
        media_type=media_type,
        dataset_id=dataset_id,
        agreement_id=agreement_id,
        provider_pid=provider_pid,
        consumer_pid=consumer_pid,
        issuer=issuer,
        issued_at=issued_at.replace(microsecond=0),
    )
    header = {"kid": kid, "x5c": [cert_der_b64(c) for c in (signing_cert, *ca_certs)]}
    return Seal(claims, jws.sign_detached(signing_key, canonical_bytes(claims.to_json()), header))


def _envelope(seal_json: Mapping[str, Any] | str | bytes) -> tuple[Mapping[str, Any], str]:
    value: Any = seal_json
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError:
            raise SealError("seal.malformed", "the seal is not JSON", None) from None
    if not isinstance(value, Mapping) or set(value) != {"claims", "jws"}:
        raise SealError("seal.malformed", "a seal is a JSON object with exactly claims and jws", None)
    if not isinstance(value["claims"], Mapping) or not isinstance(value["jws"], str):
        raise SealError("seal.malformed", "the seal's claims must be an object and its jws a string", None)
    return value["claims"], value["jws"]


def _mismatch(where: str, what: str, got: str, want: str) -> SealError:
    return SealError("seal.mismatch", f"the seal is for {what} '{got}', not the expected '{want}'", where)


def verify_seal(
    seal_json: Mapping[str, Any] | str | bytes,
    observed_sha256: str,
    observed_size: int,
    expected: SealExpectation,
    trust_anchors: Sequence[x509.Certificate],
    now: datetime,
    *,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    check_revocation: Callable[[x509.Certificate], Problem | None] | None = None,
) -> SealFacts:
    """Accept a seal only if it is well formed, signed by a certificate for its issuer that chains to one of
    `trust_anchors` (valid at the seal's time), states the expected dataset, agreement, transfer and issuer, and
    commits to exactly the bytes observed. Raises SealError naming the first field at fault."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    raw_claims, token = _envelope(seal_json)
    claims = SealClaims.from_json(raw_claims)
    try:
        header = jws.read_header(token)
    except jws.JwsError as exc:
        raise SealError("seal.malformed", f"the seal's JWS is unusable: {exc.reason}", "jws") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid.startswith(claims.issuer + "#"):
        raise SealError("seal.kid", "the JWS kid is not a DID URL of the seal's issuer", "kid")
    try:
        chain = certs_from_x5c(header.get("x5c"))
    except EvidenceError as exc:
        raise SealError("seal.certificate", exc.reason, exc.where) from None
    try:
        jws.verify_detached(chain[0].public_key(), token, canonical_bytes(dict(raw_claims)))  # type: ignore[arg-type]
    except jws.JwsError as exc:
        raise SealError("seal.signature", f"the seal's signature does not verify ({exc.reason})", "jws") from None
    except TypeError:
        raise SealError("seal.signature", "the signing certificate's key cannot verify ES256", "jws") from None
    try:
        signer = verify_signer(chain, claims.issuer, trust_anchors, claims.issued_at)
    except SignerError as exc:
        code = "seal.untrusted" if exc.code == "signer.untrusted" else "seal.certificate"
        raise SealError(code, exc.reason, exc.where) from None
    if check_revocation is not None:
        revoked = check_revocation(signer.certificate)
        if revoked is not None:
            raise SealError("seal.revoked", revoked.reason, "x5c.0")
    for where, what, got, want in (
        ("issuer", "issuer", claims.issuer, expected.issuer),
        ("datasetId", "dataset", claims.dataset_id, expected.dataset_id),
        ("agreementId", "agreement", claims.agreement_id, expected.agreement_id),
        ("transfer.providerPid", "provider transfer", claims.provider_pid, expected.provider_pid),
        ("transfer.consumerPid", "consumer transfer", claims.consumer_pid, expected.consumer_pid),
    ):
        if got != want:
            raise _mismatch(where, what, got, want)
    if observed_size != claims.size:
        raise SealError(
            "seal.data_mismatch",
            f"the data's size ({observed_size} bytes) does not match the sealed size ({claims.size} bytes)",
            "size",
        )
    if observed_sha256.lower() != claims.sha256:
        raise SealError(
            "seal.data_mismatch",
            f"the data's SHA-256 {observed_sha256} does not match the sealed SHA-256 {claims.sha256}",
            "sha256",
        )
    if claims.issued_at > now + max_skew:
        reason = f"the seal is dated in the future ({_format_time(claims.issued_at)})"
        raise SealError("seal.time", reason, "issuedAt")
    return SealFacts(claims, kid, signer.fingerprint, signer.anchor.subject.rfc4514_string(), now)
