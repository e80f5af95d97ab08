"""Proof of intent inside the negotiation steps: the `env.signer` the control plane calls.

Both roles, all inside the step's store transaction (so the signature, its record in the chain and the state
change are committed together):

- provider, agreeing: sign the agreement, keep the signature, log it, send it with the ContractAgreementMessage;
- consumer, receiving it: verify the provider's signature (or note that there is none), keep and log the outcome;
- consumer, before verifying: refuse a bad signature always, a missing one when signatures are required;
- consumer, verifying: countersign the agreement and the provider's signature;
- provider, before FINALIZED: verify the countersignature the same way.

Each signature covers the hashes of the credentials this side verified for the counter-party in that
negotiation (`neg.claims`). Peers that do not sign still interoperate; what is held is then recorded as
"unsigned", and ``[evidence] require_signatures`` turns that into a refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from cryptography import x509

from connector.canonical import canonical_bytes
from connector.errors import ConnectorError, Problem
from connector.evidence.certpath import certs_from_x5c
from connector.evidence.rfc3339 import format_utc
from connector.evidence.signer import SigningIdentity
from connector.jws import read_header
from connector.records.evidence import INVALID, SIGNED, UNSIGNED, VERIFIED, StoredSignature
from connector.store.interface import Tx
from connector.store.sql import evidence as tables
from connector.store.sql import processes as repo

AGREEMENT_SIGNED = "agreement.signed"  # this node signed (data: role, agreement, signature hash)
AGREEMENT_VERIFIED = "agreement.verified"  # the outcome of checking the peer's signature (or its absence)
MAX_SIGNATURE_CHARS = 64 * 1024  # a compact JWS with a two-certificate x5c is a few kilobytes


def _carried(extensions: Mapping[str, Any], read: Callable[[Mapping[str, Any]], str | None]) -> str | None:
    """The signature a peer sent, refused before it is kept if it cannot possibly be a compact JWS."""
    jws = read(extensions)
    if jws is not None and (len(jws) > MAX_SIGNATURE_CHARS or not jws.isascii()):
        raise ConnectorError("agreement.malformed", "the signature property is not a compact JWS")
    return jws


def credential_hashes(claims: Mapping[str, Any] | None) -> list[str]:
    """The hashes of the counter-party's credentials verified in this negotiation (claims_codec JSON)."""
    if not claims:
        return []
    found = {c.get("sha256") for c in claims.get("credentials", []) if isinstance(c, Mapping)}
    return sorted(h for h in found if isinstance(h, str))


@dataclass(frozen=True)
class Anchors:
    """Where trust comes from when the node checks a peer's signature: its CA certificates and their CRLs."""

    certificates: Callable[[], Sequence[x509.Certificate]]
    revoked: Callable[[x509.Certificate], bool] = lambda cert: False
    any_revoked: Callable[[], bool] = lambda: False  # spares reading the chain again when no CRL lists anyone


T = TypeVar("T")


def _canonical_or_refuse(work: Callable[[], T]) -> T:
    """Run a signing step; an agreement JSON cannot express canonically (NaN, huge integers) is malformed."""
    try:
        return work()
    except ValueError as exc:  # rfc8785's canonicalisation errors
        raise ConnectorError("agreement.malformed", f"the agreement is not canonicalisable JSON ({exc})") from None


class AgreementSigner:
    def __init__(
        self,
        identity: SigningIdentity,
        append: Callable[..., Any],
        anchors: Anchors,
        require_signatures: bool,
        clock: Callable[[], datetime],
    ) -> None:
        self.identity = identity
        self.append = append  # NodeEvidence.append: one record in the step's transaction
        self.anchors = anchors
        self.require_signatures = require_signatures
        self.clock = clock

    # --- provider -----------------------------------------------------------------------------------------

    def sign_agreement(self, db: Tx, neg: Any, agreement: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
        from connector.evidence import intent

        now = self.clock()
        credentials = credential_hashes(neg.claims)
        # The agreement's canonical bytes, made once: what is signed, and the record's subject.
        signed = _canonical_or_refuse(lambda: canonical_bytes(dict(agreement)))
        jws = _canonical_or_refuse(
            lambda: intent.sign_agreement(
                agreement, self.identity, counterparty_credentials=credentials, now=now, canonical=signed
            )
        )
        self._keep_own(db, neg, agreement, intent.PROVIDER, jws, credentials, now, signed)
        return intent.with_signature(body, jws)

    def check_countersignature(self, db: Tx, neg: Any, msg: Any) -> Problem | None:
        from connector.evidence import intent

        agreement = repo.get_agreement(db, neg.agreement_id or "")
        if agreement is None:
            return Problem("agreement.missing", "the agreement to finalize is missing")
        own = tables.signatures_of(db, agreement.id).get(intent.PROVIDER)
        try:
            jws = _carried(msg.extensions, intent.countersignature_in)
        except ConnectorError as exc:
            return self._refuse(db, neg, agreement.policy, intent.CONSUMER, None, exc.problem)
        if jws is None:
            return self._unsigned(db, neg, agreement.policy, intent.CONSUMER)
        if own is None or own.jws is None:
            problem = Problem(
                "agreement.countersignature", "a countersignature arrived for an agreement this node did not sign"
            )
            return self._refuse(db, neg, agreement.policy, intent.CONSUMER, jws, problem)
        return self._verify(db, neg, agreement.policy, intent.CONSUMER, jws, provider_signature=own.jws)

    # --- consumer -----------------------------------------------------------------------------------------

    def receive_agreement(self, db: Tx, neg: Any, agreement: Mapping[str, Any], msg: Any) -> dict[str, Any]:
        from connector.evidence import intent

        try:
            jws = _carried(msg.extensions, intent.signature_in)
        except ConnectorError as exc:
            self._refuse(db, neg, agreement, intent.PROVIDER, None, exc.problem)
            return {"providerSignature": INVALID, "code": exc.code, "reason": exc.reason}
        if jws is None:
            self._unsigned(db, neg, agreement, intent.PROVIDER)
            return {"providerSignature": UNSIGNED}
        problem = self._verify(db, neg, agreement, intent.PROVIDER, jws)
        if problem is not None:
            return {"providerSignature": INVALID, "code": problem.code, "reason": problem.reason}
        return {"providerSignature": VERIFIED, "signer": neg.peer_id}

    def check_agreement(self, db: Tx, neg: Any, agreement: Any) -> Problem | None:
        from connector.evidence import intent

        held = tables.signatures_of(db, agreement.id).get(intent.PROVIDER)
        if held is None or held.status == UNSIGNED:
            if self.require_signatures:
                return Problem(
                    "agreement.unsigned",
                    "the provider did not sign the agreement, and this node "
                    "requires signed agreements ([evidence] require_signatures)",
                )
            return None
        if held.status == INVALID:
            return Problem(
                held.code or "agreement.signature",
                f"the provider's signature on the agreement is not acceptable: {held.reason}",
            )
        return None

    def countersign(self, db: Tx, neg: Any, agreement: Any, body: Mapping[str, Any]) -> dict[str, Any]:
        from connector.evidence import intent

        held = tables.signatures_of(db, agreement.id).get(intent.PROVIDER)
        if held is None or held.status != VERIFIED or held.jws is None:
            return dict(body)  # nothing verified to countersign: the agreement stays unsigned on our side too
        provider_jws = held.jws
        now = self.clock()
        credentials = credential_hashes(neg.claims)
        signed = _canonical_or_refuse(lambda: canonical_bytes(dict(agreement.policy)))
        jws = _canonical_or_refuse(
            lambda: intent.countersign_agreement(
                agreement.policy,
                provider_jws,
                self.identity,
                counterparty_credentials=credentials,
                now=now,
                canonical=signed,
            )
        )
        self._keep_own(db, neg, agreement.policy, intent.CONSUMER, jws, credentials, now, signed)
        return intent.with_countersignature(body, jws)

    # --- shared -------------------------------------------------------------------------------------------

    def _keep_own(
        self,
        db: Tx,
        neg: Any,
        agreement: Mapping[str, Any],
        role: str,
        jws: str,
        credentials: list[str],
        now: datetime,
        signed: bytes,
    ) -> None:
        from connector.evidence import intent

        agreement_id = str(agreement.get("@id"))
        tables.put_signature(
            db,
            StoredSignature(agreement_id, role, SIGNED, self.identity.did, jws, None, None, format_utc(now)),
        )
        self.append(
            db,
            AGREEMENT_SIGNED,
            process_id=neg.id,
            peer=neg.peer_id,
            subject=dict(agreement),
            data={
                "agreement": agreement_id,
                "role": role,
                "signature_sha256": intent.signature_sha256(jws),
                "credentials": credentials,
            },
            subject_json=signed,
        )

    def _verify(
        self, db: Tx, neg: Any, agreement: Mapping[str, Any], role: str, jws: str, provider_signature: str | None = None
    ) -> Problem | None:
        from connector.evidence import intent

        now = self.clock()
        try:
            # The agreement's canonical bytes, made once: what the signature is checked over, and the subject.
            signed = _canonical_or_refuse(lambda: canonical_bytes(dict(agreement)))
            facts = _canonical_or_refuse(
                lambda: intent.verify_agreement_signature(
                    agreement,
                    jws,
                    neg.peer_id,
                    self.anchors.certificates(),
                    now,
                    provider_signature=provider_signature,
                    expected_role=role,
                    canonical=signed,
                )
            )
            revoked = self.anchors.any_revoked() and self.anchors.revoked(certs_from_x5c(read_header(jws)["x5c"])[0])
        except ConnectorError as exc:
            return self._refuse(db, neg, agreement, role, jws, exc.problem)
        if revoked:
            problem = Problem("agreement.revoked", f"the signing certificate of {neg.peer_id} is revoked")
            return self._refuse(db, neg, agreement, role, jws, problem)
        agreement_id = str(agreement.get("@id"))
        tables.put_signature(
            db,
            StoredSignature(agreement_id, role, VERIFIED, neg.peer_id, jws, None, None, format_utc(now)),
        )
        self.append(
            db,
            AGREEMENT_VERIFIED,
            process_id=neg.id,
            peer=neg.peer_id,
            subject=dict(agreement),
            data={
                "agreement": agreement_id,
                "role": role,
                "status": VERIFIED,
                "signature_sha256": intent.signature_sha256(jws),
                "credentials": list(facts.credential_sha256),
                "kid": facts.kid,
            },
            subject_json=signed,
        )
        return None

    def _unsigned(self, db: Tx, neg: Any, agreement: Mapping[str, Any], role: str) -> Problem | None:
        from connector.evidence import intent

        agreement_id = str(agreement.get("@id"))
        tables.put_signature(
            db,
            StoredSignature(agreement_id, role, UNSIGNED, neg.peer_id, None, None, None, format_utc(self.clock())),
        )
        self.append(
            db,
            AGREEMENT_VERIFIED,
            process_id=neg.id,
            peer=neg.peer_id,
            subject=dict(agreement),
            data={"agreement": agreement_id, "role": role, "status": UNSIGNED},
        )
        if self.require_signatures:
            side = "provider" if role == intent.PROVIDER else "consumer"
            return Problem(
                "agreement.unsigned",
                f"the {side} did not sign the agreement, and this node requires "
                "signed agreements ([evidence] require_signatures)",
            )
        return None

    def _refuse(
        self, db: Tx, neg: Any, agreement: Mapping[str, Any], role: str, jws: str | None, problem: Problem
    ) -> Problem:
        from connector.evidence import intent

        agreement_id = str(agreement.get("@id"))
        tables.put_signature(
            db,
            StoredSignature(
                agreement_id,
                role,
                INVALID,
                neg.peer_id,
                jws,
                problem.code,
                problem.reason[:500],
                format_utc(self.clock()),
            ),
        )
        data: dict[str, Any] = {
            "agreement": agreement_id,
            "role": role,
            "status": INVALID,
            "code": problem.code,
            "reason": problem.reason[:500],
        }
        if jws is not None:
            data["signature_sha256"] = intent.signature_sha256(jws)
        self.append(db, AGREEMENT_VERIFIED, process_id=neg.id, peer=neg.peer_id, subject=dict(agreement), data=data)
        return Problem(
            problem.code, f"the {role}'s signature on the agreement is not acceptable: {problem.reason}", problem.where
        )
