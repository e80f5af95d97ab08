"""Mutual recognition between federations, stated and signed.

A federation states that it recognises another: which of the other's credential types (at which assurance
level at least) it accepts as equivalent to which of its own, with which claims in its own terms, for which
purposes, until when, and whether it also accepts what the other recognises in turn (transitive). The statement is
a credential (VC Data Model 2.0, JWT) of type ``FederationRecognition`` issued by the recognising federation's
credential issuer - so it is verified with the key that federation's trust list names, judged by that issuer's
accreditation when it was issued, and revoked like any credential, through the issuer's status list::

    {"type": ["VerifiableCredential", "FederationRecognition"], "issuer": "<issuer of the recognising federation>",
     "validFrom": ..., "validUntil": ..., "credentialStatus": {BitstringStatusListEntry},
     "credentialSubject": {
        "id": "<the recognised federation's id>", "type": "RecognisedFederation", "name": "...",
        "trustListSigner": "<hex SHA-256 of the certificate its trust list is signed under>",
        "recognisedBy": "<the recognising federation's id>", "transitive": false,
        "equivalences": [{"recognised": {"credentialType": "MembershipCredential", "minimumAssuranceLevel": "low"},
                          "acceptedAs": {"credentialType": "MembershipCredential",
                                         "claims": {"memberOf": "<the recognising federation's id>"}},
                          "purposes": ["research"]}]}}

A node applies a statement only when its own federation signed it: a peer's credential of federation F becomes a
`RecognisedCredential` in the node's federation's terms when a statement of the node's federation recognises F
for that type. Through another federation G only when the node's federation's statement about G is transitive and
G's own (verified) statement recognises F. The purposes along a path are intersected; a credential recognised for
some purposes counts only in decisions for one of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from connector.errors import ConnectorError, Problem
from connector.keys import PrivateKey
from connector.trust import vocab
from connector.trust.claims import RecognisedCredential, RecognitionStep, StatusEntry, VerifiedCredential
from connector.trust.compact import did_of_kid, parse_jwt, sign_jwt, verify_signature
from connector.trust.credentials import read_envelope, status_entry
from connector.trust.did import parse_did
from connector.trust.times import format_datetime, require_aware, to_numeric_date
from connector.trust.trust_list import TrustStore

RECOGNITION_TYPE = "FederationRecognition"
SUBJECT_TYPE = "RecognisedFederation"
ASSURANCE_LEVELS = ("low", "substantial", "high")  # eIDAS levels of assurance, lowest first
MAX_PATH = 3  # statements chained at most (a transitive recognition of a recognition of a recognition)
DEFAULT_LEEWAY = timedelta(seconds=30)


@dataclass(frozen=True)
class Equivalence:
    """One of the other federation's credential types accepted as one of ours."""

    recognised_type: str
    accepted_as: str
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # claims in our terms
    minimum_level: str | None = None  # the recognised credential's assuranceLevel, at least
    level: str | None = None  # the assurance level the accepted credential has in our terms
    purposes: frozenset[str] | None = None  # None: any purpose

    def to_json(self) -> dict[str, Any]:
        recognised: dict[str, Any] = {"credentialType": self.recognised_type}
        if self.minimum_level:
            recognised["minimumAssuranceLevel"] = self.minimum_level
        accepted: dict[str, Any] = {"credentialType": self.accepted_as}
        if self.claims:
            accepted["claims"] = dict(self.claims)
        if self.level:
            accepted["assuranceLevel"] = self.level
        out: dict[str, Any] = {"recognised": recognised, "acceptedAs": accepted}
        if self.purposes is not None:
            out["purposes"] = sorted(self.purposes)
        return out

    def admits(self, credential: VerifiedCredential) -> bool:
        if not credential.has_type(self.recognised_type):
            return False
        if self.minimum_level is None:
            return True
        level = credential.subject.get("assuranceLevel")
        return level in ASSURANCE_LEVELS and ASSURANCE_LEVELS.index(level) >= ASSURANCE_LEVELS.index(self.minimum_level)


@dataclass(frozen=True)
class Recognition:
    """A verified recognition statement."""

    id: str
    issuer: str
    by_id: str  # the recognising federation
    by: str
    of_id: str  # the recognised federation
    of: str
    of_signer: str | None  # hex SHA-256 of the certificate the recognised federation's list is signed under
    equivalences: tuple[Equivalence, ...]
    transitive: bool
    valid_from: datetime
    valid_until: datetime
    status: StatusEntry | None
    token: str = field(repr=False, compare=False, default="")

    def valid_at(self, now: datetime, leeway: timedelta = DEFAULT_LEEWAY) -> bool:
        return self.valid_from <= now + leeway and now < self.valid_until + leeway


def issue_recognition(
    key: PrivateKey,
    kid: str,
    issuer_did: str,
    by: tuple[str, str],
    of: tuple[str, str, str | None],
    equivalences: Sequence[Equivalence],
    valid_from: datetime,
    valid_until: datetime,
    status: StatusEntry | None,
    transitive: bool = False,
    statement_id: str | None = None,
) -> str:
    """A signed recognition statement: `by` (id, name) recognises `of` (id, name, trust list signer SHA-256)."""
    if did_of_kid(kid, "recognition")[0] != issuer_did:
        raise ConnectorError("recognition.invalid", "the signing key id is not a key of the issuer", "kid")
    parse_did(issuer_did)
    if not equivalences:
        raise ConnectorError("recognition.invalid", "a recognition names at least one credential type")
    if not valid_from < valid_until:
        raise ConnectorError("recognition.invalid", "validFrom must precede validUntil")
    for eq in equivalences:
        for level in (eq.minimum_level, eq.level):
            if level is not None and level not in ASSURANCE_LEVELS:
                raise ConnectorError(
                    "recognition.invalid", f"'{level}' is not a level of assurance (low, substantial, high)"
                )
    sid = statement_id or f"urn:uuid:{uuid.uuid4()}"
    subject: dict[str, Any] = {
        "id": of[0],
        "type": SUBJECT_TYPE,
        "name": of[1],
        "recognisedBy": by[0],
        "recognisedByName": by[1],
        "transitive": transitive,
        "equivalences": [eq.to_json() for eq in equivalences],
    }
    if of[2]:
        subject["trustListSigner"] = of[2]
    claims: dict[str, Any] = {
        "@context": [vocab.VC_CONTEXT],
        "id": sid,
        "type": [vocab.VERIFIABLE_CREDENTIAL, RECOGNITION_TYPE],
        "issuer": issuer_did,
        "validFrom": format_datetime(valid_from),
        "validUntil": format_datetime(valid_until),
        "credentialSubject": subject,
        "iss": issuer_did,
        "jti": sid,
        "iat": to_numeric_date(valid_from),
        "exp": to_numeric_date(valid_until),
    }
    if status is not None:
        claims["credentialStatus"] = status.to_json()
    return sign_jwt(key, claims, {"typ": vocab.VC_JWT_TYP, "kid": kid})


def _bad(why: str, where: str | None = None) -> ConnectorError:
    return ConnectorError("recognition.malformed", f"recognition statement is malformed: {why}", where)


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{where}.{key} is not a non-empty string", f"{where}.{key}")
    return value


def _level(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if value not in ASSURANCE_LEVELS:
        raise _bad(f"{where}.{key} is not low, substantial or high", f"{where}.{key}")
    return str(value)


def _equivalence(raw: object, where: str) -> Equivalence:
    if not isinstance(raw, Mapping):
        raise _bad(f"{where} is not an object", where)
    recognised, accepted = raw.get("recognised"), raw.get("acceptedAs")
    if not isinstance(recognised, Mapping) or not isinstance(accepted, Mapping):
        raise _bad(f"{where} needs recognised and acceptedAs objects", where)
    claims = accepted.get("claims", {})
    if not isinstance(claims, Mapping) or "id" in claims:
        raise _bad(f"{where}.acceptedAs.claims is not an object of claims (without id)", where)
    purposes = raw.get("purposes")
    if purposes is not None and (
        not isinstance(purposes, list) or not purposes or not all(isinstance(p, str) and p for p in purposes)
    ):
        raise _bad(f"{where}.purposes is not a non-empty list of purposes", f"{where}.purposes")
    return Equivalence(
        _text(recognised, "credentialType", f"{where}.recognised"),
        _text(accepted, "credentialType", f"{where}.acceptedAs"),
        MappingProxyType(dict(claims)),
        _level(recognised, "minimumAssuranceLevel", f"{where}.recognised"),
        _level(accepted, "assuranceLevel", f"{where}.acceptedAs"),
        frozenset(purposes) if purposes is not None else None,
    )


def verify_recognition(
    token: object, trust_store: TrustStore, now: datetime, leeway: timedelta = DEFAULT_LEEWAY
) -> Recognition:
    """Verify a statement against the trust lists: signed by the issuer of the federation it says recognises, with
    a key that federation's list names, by an issuer accredited when it was issued; well-formed. Its validity at
    `now` and its status are for the caller (`Recognition.valid_at`, the status list)."""
    require_aware(now)
    jwt = parse_jwt(token, "recognition")
    envelope = read_envelope(jwt, "recognition")
    if RECOGNITION_TYPE not in envelope.types:
        raise _bad(f"its type does not include {RECOGNITION_TYPE}", "type")
    subject = envelope.subject
    if subject.get("type") != SUBJECT_TYPE:
        raise _bad(f"credentialSubject.type is not {SUBJECT_TYPE}", "credentialSubject.type")
    by_id = _text(subject, "recognisedBy", "credentialSubject")
    issuer = envelope.issuer
    lists = trust_store.lists_naming(issuer)
    signing = next((t for t in lists if t.federation_id == by_id), None)
    if signing is None:
        raise ConnectorError(
            "recognition.issuer_untrusted",
            f"the statement says {by_id} recognises, but {issuer} is not that federation's issuer on any trust list",
            "issuer",
        )
    not_accredited = trust_store.issuer_not_accredited(issuer, envelope.valid_from)
    if not_accredited is not None:
        raise ConnectorError(
            "recognition.issuer_not_accredited", f"the statement was issued when {not_accredited}", "issuer"
        )
    kid = jwt.kid or ""
    if did_of_kid(kid, "recognition")[0] != issuer:
        raise ConnectorError("recognition.kid_unknown", "the statement is signed with a key of another party", "kid")
    try:
        key = trust_store.issuer_key(issuer, kid)
    except ConnectorError as exc:
        raise ConnectorError("recognition.kid_unknown", exc.reason, "kid") from None
    verify_signature(jwt, key, "recognition")
    if envelope.valid_until is None:
        raise _bad("validUntil is required", "validUntil")
    raw = subject.get("equivalences")
    if not isinstance(raw, list) or not raw:
        raise _bad("credentialSubject.equivalences is not a non-empty list", "credentialSubject.equivalences")
    transitive = subject.get("transitive", False)
    if not isinstance(transitive, bool):
        raise _bad("credentialSubject.transitive is not true or false", "credentialSubject.transitive")
    signer = subject.get("trustListSigner")
    if signer is not None and not isinstance(signer, str):
        raise _bad("credentialSubject.trustListSigner is not a string", "credentialSubject.trustListSigner")
    status = status_entry(envelope.status, trust_store, issuer) if envelope.status is not None else None
    of_id = str(subject["id"])
    if of_id == by_id:
        raise _bad("a federation does not recognise itself", "credentialSubject.id")
    named = next((t for t in trust_store.lists if t.federation_id == of_id), None)
    if named is not None and signer is not None and named.signer_sha256 and named.signer_sha256 != signer:
        raise ConnectorError(
            "recognition.federation_mismatch",
            f"the statement recognises the list of {of_id} signed under another certificate than the one this node "
            "pins for that federation",
            "credentialSubject.trustListSigner",
        )
    return Recognition(
        id=envelope.id,
        issuer=issuer,
        by_id=by_id,
        by=signing.federation_name,
        of_id=of_id,
        of=str(subject.get("name") or of_id),
        of_signer=signer,
        equivalences=tuple(_equivalence(e, f"credentialSubject.equivalences[{i}]") for i, e in enumerate(raw)),
        transitive=transitive,
        valid_from=envelope.valid_from,
        valid_until=envelope.valid_until,
        status=status,
        token=jwt.token,
    )


def own_federations(trust_store: TrustStore, ca_der: bytes) -> frozenset[str]:
    """The federations whose lists name the CA that certified this node (its own federations)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    return frozenset(
        t.federation_id
        for t in trust_store.lists
        if any(c.public_bytes(Encoding.DER) == ca_der for c in t.ca_certificates)
    )


@dataclass(frozen=True)
class Recognitions:
    """The statements a node holds, verified, and the federations it belongs to."""

    own: frozenset[str]
    statements: tuple[Recognition, ...] = ()
    problems: tuple[tuple[str, Problem], ...] = ()  # (source, why it is not applied)

    @classmethod
    def build(
        cls, sources: Iterable[tuple[str, str]], trust_store: TrustStore, own: frozenset[str], now: datetime
    ) -> Recognitions:
        """Verify every (source, token); a statement that does not verify is listed among the problems."""
        statements: list[Recognition] = []
        problems: list[tuple[str, Problem]] = []
        for source, token in sources:
            try:
                statements.append(verify_recognition(token.strip(), trust_store, now))
            except ConnectorError as exc:
                problems.append((source, exc.problem))
        return cls(own, tuple(statements), tuple(problems))

    def candidates(
        self, credentials: Iterable[VerifiedCredential], now: datetime, revoked: frozenset[str] = frozenset()
    ) -> tuple[RecognisedCredential, ...]:
        """Every recognition of these credentials into one of the own federations, through statements valid at
        `now` and not among `revoked` (statement ids). Native credentials of an own federation are left as they
        are."""
        usable = [s for s in self.statements if s.valid_at(now) and s.id not in revoked]
        found: list[RecognisedCredential] = []
        for original in credentials:
            if not original.federation_id or original.federation_id in self.own:
                continue
            queue: list[tuple[VerifiedCredential, tuple[RecognitionStep, ...], frozenset[str] | None]] = [
                (original, (), None)
            ]
            while queue:
                current, path, purposes = queue.pop(0)
                seen = {original.federation_id} | {step.by_id for step in path}
                for statement in usable:
                    if statement.of_id != current.federation_id or statement.by_id in seen:
                        continue
                    if path and not statement.transitive:
                        continue  # what another federation recognised counts only if ours said so
                    for eq in statement.equivalences:
                        if not eq.admits(current):
                            continue
                        step = RecognitionStep(
                            statement.id,
                            statement.by,
                            statement.by_id,
                            statement.of,
                            statement.issuer,
                            f"{eq.recognised_type} as {eq.accepted_as}",
                            statement.valid_until,
                            statement.status,
                        )
                        accepted = _accepted(current, statement, eq)
                        allowed = _meet(purposes, eq.purposes)
                        if statement.by_id in self.own:
                            found.append(RecognisedCredential(accepted, original, path + (step,), allowed))
                        elif len(path) + 1 < MAX_PATH:
                            queue.append((accepted, path + (step,), allowed))
        return tuple(found)

    def statement_status(self, recognised: Iterable[RecognisedCredential]) -> dict[str, StatusEntry]:
        """Statement id -> its status entry, for the statements `recognised` went through."""
        return {step.statement: step.status for r in recognised for step in r.path if step.status is not None}


def _meet(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _accepted(credential: VerifiedCredential, statement: Recognition, eq: Equivalence) -> VerifiedCredential:
    subject = {**credential.subject, **eq.claims}
    if eq.level is not None:
        subject["assuranceLevel"] = eq.level
    return VerifiedCredential(
        id=credential.id,
        types=(vocab.VERIFIABLE_CREDENTIAL, eq.accepted_as),
        issuer=credential.issuer,
        federation=statement.by,
        subject=MappingProxyType(subject),
        valid_from=credential.valid_from,
        valid_until=min(d for d in (credential.valid_until, statement.valid_until) if d is not None),
        sha256=credential.sha256,
        status=credential.status,
        federation_id=statement.by_id,
    )
