"""Proof of intent: both parties sign the contract agreement they concluded.

The provider signs the ODRL Agreement object exactly as it sends it in the ContractAgreementMessage; the consumer
countersigns the same object and, through a hash in its protected header, the provider's signature. Each party
can later show, without the other and without any service, what was agreed and that both agreed to it.

Signature format: a detached compact JWS (RFC 7515 appendix F) over the RFC 8785 canonical JSON of the
agreement. Protected header:

    alg          ES256 (pinned)
    typ          "dsp-agreement+jws"
    kid          a DID URL of the signer (resolvable in its DID document)
    x5c          [signing certificate, issuing CA certificate...]: offline verification to the federation root
    role         "provider" | "consumer"
    iat          signing time, seconds since the epoch
    vc_sha256    hex SHA-256s of the counter-party's credentials as presented and verified in the negotiation
    psig_sha256  (consumer only) hex SHA-256 of the provider's compact JWS

On the wire the signatures travel as extra top-level properties of the DSP messages, beside (never inside) the
agreement so the signed bytes stay exactly what was sent. The keys are full IRIs: DSP 2025-1 messages are JSON-LD,
a full IRI survives expansion and compaction unchanged, and a peer that does not understand it (Eclipse EDC,
for one) ignores it as DSP requires of unknown properties. Nothing in the negotiation depends on the peer
countersigning; an absent countersignature is simply weaker evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509

from connector.canonical import canonical_bytes, json_sha256, sha256_hex
from connector.evidence.certpath import uri_sans
from connector.evidence.errors import EvidenceError
from connector.evidence.rfc3339 import require_aware
from connector.evidence.signer import SigningIdentity, did_of_kid, verify_signed
from connector.jws import JwsError, read_header, sign_detached
from connector.keys import cert_sha256
from connector.trust.claims import VerifiedClaims

TYP = "dsp-agreement+jws"
PROVIDER = "provider"
CONSUMER = "consumer"
MAX_SKEW = timedelta(minutes=5)

# ContractAgreementMessage (provider -> consumer) carries the provider's signature under this key.
AGREEMENT_SIGNATURE = "https://w3id.org/connector/ext/agreementSignature"
# ContractAgreementVerificationMessage (consumer -> provider) carries the consumer's countersignature.
AGREEMENT_COUNTERSIGNATURE = "https://w3id.org/connector/ext/agreementCountersignature"

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class SignatureFacts:
    """What a verified agreement signature establishes."""

    signer: str  # the signer's DID (checked against the certificate's URI SAN)
    role: str  # provider | consumer
    kid: str
    issued_at: datetime
    agreement_sha256: str  # hex SHA-256 of the canonical agreement
    credential_sha256: tuple[str, ...]  # counter-party credentials the signer relied on
    provider_signature_sha256: str | None  # what a countersignature covers; None for the provider's
    signer_cert_sha256: str
    root: str  # RFC 4514 subject of the trust anchor the chain ended at
    jws: str


def agreement_sha256(agreement: Mapping[str, Any]) -> str:
    return json_sha256(agreement)


def signature_sha256(jws: str) -> str:
    return sha256_hex(jws.encode("ascii"))


def credential_hashes(claims: VerifiedClaims) -> tuple[str, ...]:
    """The credential hashes to put in a signature, from the counter-party's verification result."""
    return tuple(sorted({c.sha256 for c in claims.credentials}))


def _party_id(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("@id"), str):
        return str(value["@id"])
    return None


def _party(agreement: Mapping[str, Any], role: str) -> str | None:
    name = "assigner" if role == PROVIDER else "assignee"
    return _party_id(agreement.get(name, agreement.get(f"odrl:{name}")))


def _hash_list(values: Iterable[str]) -> list[str]:
    out = sorted(set(values))
    if not all(isinstance(v, str) and _HEX64.fullmatch(v) for v in out):
        raise EvidenceError("agreement.credentials", "credential hashes must be 64 lowercase hex digits")
    return out


def _sign(
    agreement: Mapping[str, Any],
    signer: SigningIdentity,
    role: str,
    credentials: Iterable[str],
    now: datetime,
    extra: Mapping[str, Any],
    canonical: bytes | None = None,
) -> str:
    if not isinstance(agreement, Mapping):
        raise EvidenceError("agreement.malformed", "the agreement must be a JSON object")
    if _party(agreement, role) != signer.did:
        side = "assigner" if role == PROVIDER else "assignee"
        raise EvidenceError("agreement.party", f"{signer.did} is not the {side} of this agreement", side)
    header = {
        "typ": TYP,
        "kid": signer.kid,
        "x5c": signer.x5c,
        "role": role,
        "iat": int(require_aware(now).timestamp()),
        "vc_sha256": _hash_list(credentials),
        **extra,
    }
    signed = canonical if canonical is not None else canonical_bytes(dict(agreement))
    return sign_detached(signer.key, signed, header)


def sign_agreement(
    agreement: Mapping[str, Any],
    signer: SigningIdentity,
    *,
    counterparty_credentials: Iterable[str],
    now: datetime,
    canonical: bytes | None = None,
) -> str:
    """The provider's detached signature over the agreement it is about to send (`canonical`: its canonical
    bytes, when the caller has made them already)."""
    return _sign(agreement, signer, PROVIDER, counterparty_credentials, now, {}, canonical)


def countersign_agreement(
    agreement: Mapping[str, Any],
    provider_signature: str,
    signer: SigningIdentity,
    *,
    counterparty_credentials: Iterable[str],
    now: datetime,
    canonical: bytes | None = None,
) -> str:
    """The consumer's signature over the same agreement and the provider's signature.

    Verify the provider's signature first (`verify_agreement_signature`); this only refuses what is plainly not
    a provider signature, so a consumer never countersigns its own or a malformed one.
    """
    try:
        role = read_header(provider_signature).get("role")
    except JwsError as exc:
        raise EvidenceError("agreement.malformed", f"provider signature unreadable: {exc.reason}") from None
    if role != PROVIDER:
        raise EvidenceError("agreement.role", "only a provider signature can be countersigned", "role")
    extra = {"psig_sha256": signature_sha256(provider_signature)}
    return _sign(agreement, signer, CONSUMER, counterparty_credentials, now, extra, canonical)


def verify_agreement_signature(
    agreement: Mapping[str, Any],
    jws: str,
    expected_signer_did: str,
    trust_anchors: Sequence[x509.Certificate],
    now: datetime,
    *,
    provider_signature: str | None = None,
    expected_role: str | None = None,
    max_skew: timedelta = MAX_SKEW,
    canonical: bytes | None = None,
) -> SignatureFacts:
    """Verify one agreement signature, offline and without side effects.

    Checks the ``x5c`` chain to one of `trust_anchors` at `now` (pass the trusted signing time when auditing old
    evidence), that the signing certificate names `expected_signer_did` as URI SAN and holds keyUsage
    digitalSignature and nonRepudiation, that `kid` is a DID URL of that DID, the signature over the canonical
    agreement, and that the signer is the agreement's assigner (provider) or assignee (consumer). A
    countersignature additionally needs `provider_signature`, which it must cover.
    """
    if not isinstance(agreement, Mapping):
        raise EvidenceError("agreement.malformed", "the agreement must be a JSON object")
    require_aware(now)
    # `canonical`: the agreement's canonical bytes when the caller made them (they are what is verified).
    signed = canonical if canonical is not None else canonical_bytes(dict(agreement))
    header, _, path = verify_signed(
        jws,
        trust_anchors,
        now,
        prefix="agreement",
        typ=TYP,
        non_repudiation=True,
        detached_payload=signed,
    )
    if expected_signer_did not in uri_sans(path.leaf):
        raise EvidenceError(
            "agreement.signer", f"the signature is not by {expected_signer_did} (certificate names someone else)", "x5c"
        )
    kid = header.get("kid")
    if did_of_kid(kid) != expected_signer_did:
        raise EvidenceError("agreement.kid", f"kid must be a DID URL of {expected_signer_did}", "kid")
    role = header.get("role")
    if role not in (PROVIDER, CONSUMER):
        raise EvidenceError("agreement.role", "role must be provider or consumer", "role")
    if expected_role is not None and role != expected_role:
        raise EvidenceError("agreement.role", f"expected a {expected_role} signature, got a {role} one", "role")
    if _party(agreement, role) != expected_signer_did:
        side = "assigner" if role == PROVIDER else "assignee"
        raise EvidenceError("agreement.party", f"{expected_signer_did} is not the {side} of this agreement", side)
    iat = header.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise EvidenceError("agreement.malformed", "iat must be an integer", "iat")
    issued_at = datetime.fromtimestamp(iat, UTC)
    if issued_at > now + max_skew:
        ahead, allowed = int((issued_at - now).total_seconds()), int(max_skew.total_seconds())
        raise EvidenceError(
            "agreement.future",
            f"the signature is dated in the future ({issued_at:%Y-%m-%d %H:%M:%S}Z, {ahead} s ahead of this node's "
            f"clock, more than the {allowed} s allowed): the signer's clock or this node's is wrong",
            "iat",
        )
    credentials = header.get("vc_sha256")
    if not isinstance(credentials, list):
        raise EvidenceError("agreement.malformed", "vc_sha256 must be a list", "vc_sha256")
    _hash_list(credentials)
    psig = header.get("psig_sha256")
    if role == PROVIDER and psig is not None:
        raise EvidenceError("agreement.malformed", "a provider signature covers no other signature", "psig_sha256")
    if role == CONSUMER:
        if provider_signature is None:
            raise EvidenceError(
                "agreement.countersignature", "a countersignature is checked against the provider signature it covers"
            )
        if psig != signature_sha256(provider_signature):
            reason = "the countersignature covers a different provider signature"
            raise EvidenceError("agreement.countersignature", reason, "psig_sha256")
    assert isinstance(kid, str)
    return SignatureFacts(
        signer=expected_signer_did,
        role=role,
        kid=kid,
        issued_at=issued_at,
        agreement_sha256=sha256_hex(signed),  # = agreement_sha256(agreement), from the bytes already made
        credential_sha256=tuple(credentials),
        provider_signature_sha256=psig if role == CONSUMER else None,
        signer_cert_sha256=cert_sha256(path.leaf),
        root=path.anchor.subject.rfc4514_string(),
        jws=jws,
    )


def with_signature(message: Mapping[str, Any], jws: str) -> dict[str, Any]:
    """A copy of a ContractAgreementMessage carrying the provider's signature."""
    return {**message, AGREEMENT_SIGNATURE: jws}


def with_countersignature(message: Mapping[str, Any], jws: str) -> dict[str, Any]:
    """A copy of a ContractAgreementVerificationMessage carrying the consumer's countersignature."""
    return {**message, AGREEMENT_COUNTERSIGNATURE: jws}


def _carried(message: Mapping[str, Any], key: str) -> str | None:
    value = message.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise EvidenceError("agreement.malformed", "an agreement signature property must be a compact JWS string", key)
    return value


def signature_in(message: Mapping[str, Any]) -> str | None:
    """The provider's signature in a received ContractAgreementMessage, or None (a peer that does not sign)."""
    return _carried(message, AGREEMENT_SIGNATURE)


def countersignature_in(message: Mapping[str, Any]) -> str | None:
    """The consumer's countersignature in a received ContractAgreementVerificationMessage, or None."""
    return _carried(message, AGREEMENT_COUNTERSIGNATURE)
