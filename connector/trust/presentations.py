"""Verifiable presentations (``vp+jwt``) and the DCP 1.0 presentation query / response messages.

A presentation is a JWT signed by the holder whose payload is a VC Data Model 2.0 ``VerifiablePresentation``;
each credential travels as an ``EnvelopedVerifiableCredential`` whose ``id`` is
``data:application/vc+jwt,<credential JWT>``. Claims: ``holder``, ``iss`` (= holder), ``aud`` (= the verifier
DID), ``jti``, optional ``nonce``, ``iat``, ``exp``.

Verification (``presentation.*`` codes): ``malformed``, ``unsigned``, ``algorithm``, ``embedded_key``,
``media_type``, ``holder_mismatch`` (holder is not the participant expected), ``signer_not_holder`` (signed with
a key of another DID), ``kid_unknown``, ``kid_relationship`` (key lacks ``authentication``), ``signature``,
``audience``, ``expired``, ``not_yet_valid``, ``lifetime``.

Choices where DCP leaves room (the stricter one each time):
- The holder key must be listed under ``authentication`` in the holder's DID document (DCP presentation
  validation, step 3), and the holder must be the participant the ID token and TLS connection identified
  (cryptographic holder binding, which DCP makes conditional, is always applied).
- ``aud``, ``iat`` and ``exp`` are required and the lifetime is bounded (default 300 s); ``typ``, when present,
  must be ``vp+jwt``.
- Credentials must be enveloped ``vc+jwt`` entries; credentials embedded as bare strings or with embedded
  proofs are refused, as are EDC's doubly-enveloped ``EnvelopedVerifiablePresentation`` wrappers.
- Query messages: only ``scope`` is supported; a ``presentationDefinition`` is reported as
  ``dcp.presentation_definition_unsupported`` (DCP: answer 501), both at once or neither as ``dcp.malformed``
  (DCP: answer 400). ``@context`` must be a list holding the DCP 1.0 context.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connector.canonical import canonical_bytes, sha256_hex
from connector.errors import ConnectorError
from connector.keys import PrivateKey
from connector.trust import vocab
from connector.trust.compact import (
    check_window,
    did_of_kid,
    optional_string,
    parse_jwt,
    read_window,
    required_time,
    sign_jwt,
    single_audience,
    strict_json,
    verify_signature,
)
from connector.trust.credentials import read_credential_unverified
from connector.trust.did import AUTHENTICATION, DidDocument, parse_did
from connector.trust.scopes import Scope, parse_scopes
from connector.trust.times import require_aware, to_numeric_date

DEFAULT_LIFETIME = timedelta(seconds=300)
DEFAULT_LEEWAY = timedelta(seconds=30)
DEFAULT_MAX_LIFETIME = timedelta(seconds=300)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_PRESENTATIONS = 16
MAX_CREDENTIALS = 64


def issue_presentation(
    key: PrivateKey,
    kid: str,
    holder_did: str,
    verifier_did: str,
    credentials: Sequence[str],
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
    nonce: str | None = None,
) -> str:
    """A presentation JWT of `credentials` (compact vc+jwt strings) by `holder_did` for `verifier_did`."""
    require_aware(now)
    parse_did(holder_did)
    parse_did(verifier_did)
    if did_of_kid(kid, "presentation")[0] != holder_did:
        raise ConnectorError("presentation.invalid", "the signing key id is not a key of the holder", "kid")
    iat = to_numeric_date(now)
    claims: dict[str, Any] = {
        "@context": [vocab.VC_CONTEXT],
        "type": [vocab.VERIFIABLE_PRESENTATION],
        "holder": holder_did,
        "verifiableCredential": [
            {
                "@context": [vocab.VC_CONTEXT],
                "id": vocab.VC_JWT_DATA_URL_PREFIX + credential,
                "type": vocab.ENVELOPED_VERIFIABLE_CREDENTIAL,
            }
            for credential in credentials
        ],
        "iss": holder_did,
        "aud": verifier_did,
        "jti": f"urn:uuid:{uuid.uuid4()}",
        "iat": iat,
        "exp": iat + int(lifetime.total_seconds()),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    return sign_jwt(key, claims, {"typ": vocab.VP_JWT_TYP, "kid": kid})


@dataclass(frozen=True)
class VerifiedPresentation:
    """A presentation whose holder signature, audience and times checked out; credentials still to verify."""

    holder: str
    kid: str
    jti: str | None
    nonce: str | None
    issued_at: datetime
    expires_at: datetime
    credentials: tuple[str, ...]  # compact vc+jwt strings, as enveloped
    sha256: str


def _enveloped(entry: object, index: int) -> str:
    where = f"verifiableCredential[{index}]"
    if not isinstance(entry, dict):
        raise ConnectorError(
            "presentation.malformed", "credentials must be EnvelopedVerifiableCredential objects", where
        )
    types = entry.get("type")
    types = [types] if isinstance(types, str) else types
    if not isinstance(types, list) or vocab.ENVELOPED_VERIFIABLE_CREDENTIAL not in types:
        raise ConnectorError("presentation.malformed", "credential is not an EnvelopedVerifiableCredential", where)
    data_url = entry.get("id")
    if not isinstance(data_url, str) or not data_url.startswith(vocab.VC_JWT_DATA_URL_PREFIX):
        raise ConnectorError(
            "presentation.malformed", f"enveloped credential id must start with {vocab.VC_JWT_DATA_URL_PREFIX}", where
        )
    return data_url[len(vocab.VC_JWT_DATA_URL_PREFIX) :]


def verify_presentation(
    token: object,
    holder_document: DidDocument,
    expected_holder: str,
    verifier_did: str,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
) -> VerifiedPresentation:
    """Check a presentation JWT: holder, holder signature (authentication key), audience, times."""
    require_aware(now)
    what = "presentation"
    jwt = parse_jwt(token, what)
    typ = jwt.header.get("typ")
    if typ is not None and typ != vocab.VP_JWT_TYP:
        raise ConnectorError(f"{what}.media_type", f"presentation header typ must be {vocab.VP_JWT_TYP!r}", "typ")
    c = jwt.claims
    context = c.get("@context")
    if not isinstance(context, list) or not context or context[0] != vocab.VC_CONTEXT:
        raise ConnectorError(f"{what}.malformed", f"@context must start with {vocab.VC_CONTEXT}", "@context")
    types = c.get("type")
    types = [types] if isinstance(types, str) else types
    if not isinstance(types, list) or vocab.VERIFIABLE_PRESENTATION not in types:
        raise ConnectorError(f"{what}.malformed", "type must include VerifiablePresentation", "type")
    holder = c.get("holder")
    if isinstance(holder, dict):
        holder = holder.get("id")
    if not isinstance(holder, str) or not holder:
        raise ConnectorError(f"{what}.malformed", "presentation names no holder", "holder")
    if c.get("iss", holder) != holder:
        raise ConnectorError(f"{what}.malformed", "JWT iss disagrees with the presentation holder", "iss")
    if holder != expected_holder:
        raise ConnectorError(
            f"{what}.holder_mismatch", "presentation holder is not the participant being verified", "holder"
        )
    kid = jwt.kid or ""
    if did_of_kid(kid, what)[0] != holder:
        raise ConnectorError(
            f"{what}.signer_not_holder", "presentation is signed with a key of another party than the holder", "kid"
        )
    if holder_document.id != holder:
        raise ConnectorError(f"{what}.signer_not_holder", "the DID document supplied is not the holder's", "kid")
    try:
        key = holder_document.key(kid, AUTHENTICATION)
    except ConnectorError as exc:
        check = {"did.key_relationship": "kid_relationship"}.get(exc.code, "kid_unknown")
        raise ConnectorError(f"{what}.{check}", exc.reason, "kid") from None
    verify_signature(jwt, key, what)
    if single_audience(c, what) != verifier_did:
        raise ConnectorError(f"{what}.audience", "presentation is addressed to another verifier", "aud")
    window = read_window(c, what)
    check_window(window, what, now, leeway, max_lifetime)
    entries = c.get("verifiableCredential", [])
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or len(entries) > MAX_CREDENTIALS:
        raise ConnectorError(
            f"{what}.malformed",
            f"verifiableCredential must be a list of at most {MAX_CREDENTIALS}",
            "verifiableCredential",
        )
    credentials = tuple(_enveloped(e, i) for i, e in enumerate(entries))
    return VerifiedPresentation(
        holder=holder,
        kid=kid,
        jti=optional_string(c, "jti", what),
        nonce=optional_string(c, "nonce", what),
        issued_at=required_time(c, "iat", what),
        expires_at=window.expires_at,
        credentials=credentials,
        sha256=sha256_hex(jwt.token.encode("ascii")),
    )


# ---------------------------------------------------------------------------------------------------------
# DCP messages


def _message(data: bytes | str | Mapping[str, Any], expected_type: str) -> Mapping[str, Any]:
    if isinstance(data, (bytes, bytearray, str)):
        if len(data) > MAX_MESSAGE_BYTES:
            raise ConnectorError("dcp.malformed", f"message larger than {MAX_MESSAGE_BYTES} bytes")
        data = strict_json(data, "dcp.malformed", expected_type)
    if not isinstance(data, Mapping):
        raise ConnectorError("dcp.malformed", f"{expected_type} is not a JSON object")
    context = data.get("@context")
    if (
        not isinstance(context, list)
        or vocab.DCP_CONTEXT not in context
        or not all(isinstance(x, str) for x in context)
    ):
        raise ConnectorError("dcp.malformed", f"@context must be a list including {vocab.DCP_CONTEXT}", "@context")
    if data.get("type") != expected_type:
        raise ConnectorError("dcp.malformed", f"message type is not {expected_type}", "type")
    return data


@dataclass(frozen=True)
class PresentationQueryMessage:
    scope: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"@context": [vocab.DCP_CONTEXT], "type": vocab.PRESENTATION_QUERY_MESSAGE, "scope": list(self.scope)}

    def body(self) -> bytes:
        return canonical_bytes(self.to_json())

    @property
    def scopes(self) -> tuple[Scope, ...]:
        return parse_scopes(self.scope)


def presentation_query(scopes: Iterable[str | Scope]) -> PresentationQueryMessage:
    parsed = parse_scopes(str(s) for s in scopes)
    if not parsed:
        raise ConnectorError("dcp.malformed", "a presentation query needs at least one scope", "scope")
    return PresentationQueryMessage(tuple(str(s) for s in parsed))


def parse_presentation_query(data: bytes | str | Mapping[str, Any]) -> PresentationQueryMessage:
    message = _message(data, vocab.PRESENTATION_QUERY_MESSAGE)
    has_scope, has_definition = "scope" in message, "presentationDefinition" in message
    if has_scope and has_definition:
        raise ConnectorError("dcp.malformed", "a query carries either scope or presentationDefinition, not both")
    if has_definition:
        raise ConnectorError(
            "dcp.presentation_definition_unsupported", "presentationDefinition queries are not implemented"
        )
    scope = message.get("scope")
    if not isinstance(scope, list) or not scope:
        raise ConnectorError("dcp.malformed", "scope must be a non-empty list", "scope")
    try:
        return presentation_query(scope)
    except ConnectorError as exc:
        raise ConnectorError("dcp.malformed", exc.reason, "scope") from None


@dataclass(frozen=True)
class PresentationResponseMessage:
    presentation: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "@context": [vocab.DCP_CONTEXT],
            "type": vocab.PRESENTATION_RESPONSE_MESSAGE,
            "presentation": list(self.presentation),
        }

    def body(self) -> bytes:
        return canonical_bytes(self.to_json())


def parse_presentation_response(data: bytes | str | Mapping[str, Any]) -> PresentationResponseMessage:
    message = _message(data, vocab.PRESENTATION_RESPONSE_MESSAGE)
    presentation = message.get("presentation")
    if not isinstance(presentation, list) or len(presentation) > MAX_PRESENTATIONS:
        raise ConnectorError(
            "dcp.malformed", f"presentation must be a list of at most {MAX_PRESENTATIONS}", "presentation"
        )
    if not all(isinstance(p, str) and p for p in presentation):
        raise ConnectorError("dcp.malformed", "only JWT presentations (strings) are accepted", "presentation")
    return PresentationResponseMessage(tuple(presentation))


def select_credentials(stored: Iterable[str], scopes: Iterable[Scope]) -> tuple[str, ...]:
    """Holder side: the stored credentials (compact JWTs) that fall under any of the granted scopes."""
    wanted = tuple(scopes)
    chosen = []
    for token in stored:
        envelope = read_credential_unverified(token)
        if any(s.matches(envelope.types, envelope.id) for s in wanted):
            chosen.append(token)
    return tuple(chosen)
