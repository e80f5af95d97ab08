"""Verifiable presentations in both DCP profiles, and the DCP 1.0 presentation query / response messages.

Forms read (verifiable.presentation.protocol.md "Presentation Validation"; dcp.profiles.md):

- ``vc20-bssl/jwt``: a JWT whose payload is a VC Data Model 2.0 ``VerifiablePresentation``; each credential
  travels as an ``EnvelopedVerifiableCredential`` whose ``id`` is ``data:application/vc+jwt,<credential JWT>``.
  Either bare (header ``typ`` ``vp+jwt``; claims ``holder``, ``iss`` = holder, ``aud`` = the verifier DID,
  ``jti``, optional ``nonce``, ``iat``, ``exp``), or wrapped as EDC IdentityHub sends it: a JWT
  ``EnvelopedVerifiablePresentation`` whose ``id`` is ``data:application/vp+jwt,<presentation JWT>``, both
  signed by the holder. IdentityHub puts no ``aud``, ``iat`` or ``exp`` in either JWT; in the wrapped form they
  are checked where present (the verifier asked the holder's own credential service for it, moments ago).
- ``vc11-sl2021/jwt``: a VC Data Model 1.1 JWT presentation: the ``vp`` claim holds the presentation and its
  ``verifiableCredential`` the credential JWTs as strings; ``iss`` the holder, ``aud``, ``jti``, ``iat``/``nbf``,
  ``exp`` (as EDC and the DCP TCK write them).

Credentials are homogeneous (dcp.profiles.md, "Homogeneity requirement"): a VC 1.1 presentation carries VC 1.1
credentials only, a VC 2.0 one VC 2.0 credentials only; the verifier checks it once it has read each credential.

Written: `issue_presentations` gives, for the credentials it is handed, one presentation per profile - VC 2.0
ones wrapped as an ``EnvelopedVerifiablePresentation`` (EDC's verifier reads a VC 2.0 JWT presentation only in
that form: JwtToVerifiablePresentationTransformer), VC 1.1 ones as a ``vp`` claim JWT - each carrying ``aud``,
``iat``, ``exp`` and ``jti``. `issue_presentation` still writes the bare VC 2.0 form.

Verification (``presentation.*`` codes): ``malformed``, ``unsigned``, ``algorithm``, ``embedded_key``,
``media_type``, ``holder_mismatch`` (holder is not the participant expected), ``signer_not_holder`` (signed with
a key of another DID), ``kid_unknown``, ``kid_relationship`` (key lacks ``authentication``), ``key_unsupported``,
``signature``, ``audience``, ``expired``, ``not_yet_valid``, ``lifetime``.

Choices where DCP leaves room (the stricter one each time):
- The holder key must be usable for ``authentication`` in the holder's DID document (DCP presentation
  validation, step 3; see `connector.trust.did` for documents that do not distinguish purposes), and the holder
  must be the participant the ID token and TLS connection identified (cryptographic holder binding, which DCP
  makes conditional, is always applied). Without a ``kid``, the document's one such key is used.
- Bare VC 2.0 and VC 1.1 presentations need ``aud``, ``exp`` and ``iat`` (VC 1.1: or ``nbf``), and their
  lifetime is bounded (default 300 s); ``typ``, when present, must name the form (``vp+jwt``; ``JWT`` for VC 1.1).
- VC 2.0 credentials must be enveloped ``vc+jwt`` entries and VC 1.1 credentials JWT strings; credentials with
  embedded proofs (JSON-LD) are refused.
- Query messages: only ``scope`` is supported; a ``presentationDefinition`` is reported as
  ``dcp.presentation_definition_unsupported`` (DCP: answer 501), both at once or neither as ``dcp.malformed``
  (DCP: answer 400). ``@context`` must be a list holding the DCP 1.0 context (the message schemas).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connector.canonical import canonical_bytes, sha256_hex
from connector.errors import ConnectorError
from connector.ids import new_urn
from connector.keys import PrivateKey
from connector.trust import vocab
from connector.trust.compact import (
    Jwt,
    Window,
    check_window,
    did_of_kid,
    optional_string,
    optional_time,
    parse_jwt,
    read_window,
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


def _own_kid(kid: str, holder_did: str, verifier_did: str) -> None:
    parse_did(holder_did)
    parse_did(verifier_did)
    if did_of_kid(kid, "presentation")[0] != holder_did:
        raise ConnectorError("presentation.invalid", "the signing key id is not a key of the holder", "kid")


def _jwt_claims(holder_did: str, verifier_did: str, now: datetime, lifetime: timedelta) -> dict[str, Any]:
    iat = to_numeric_date(now)
    return {
        "iss": holder_did,
        "aud": verifier_did,
        "jti": new_urn(),
        "iat": iat,
        "exp": iat + int(lifetime.total_seconds()),
    }


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
    """A bare VC 2.0 presentation JWT of `credentials` (compact vc+jwt strings) by `holder_did` for `verifier_did`."""
    require_aware(now)
    _own_kid(kid, holder_did, verifier_did)
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
        **_jwt_claims(holder_did, verifier_did, now, lifetime),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    return sign_jwt(key, claims, {"typ": vocab.VP_JWT_TYP, "kid": kid})


def envelope_presentation(
    key: PrivateKey,
    kid: str,
    holder_did: str,
    verifier_did: str,
    presentation: str,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> str:
    """A VC 2.0 presentation JWT wrapped as an ``EnvelopedVerifiablePresentation`` JWT (VC-JOSE-COSE), the form
    EDC's verifier reads; the wrapper carries the same audience and validity as the presentation."""
    require_aware(now)
    _own_kid(kid, holder_did, verifier_did)
    claims: dict[str, Any] = {
        "@context": [vocab.VC_CONTEXT],
        "id": vocab.VP_JWT_DATA_URL_PREFIX + presentation,
        "type": vocab.ENVELOPED_VERIFIABLE_PRESENTATION,
        **_jwt_claims(holder_did, verifier_did, now, lifetime),
    }
    return sign_jwt(key, claims, {"typ": vocab.VP_JWT_TYP, "kid": kid})


def issue_vc11_presentation(
    key: PrivateKey,
    kid: str,
    holder_did: str,
    verifier_did: str,
    credentials: Sequence[str],
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
    nonce: str | None = None,
) -> str:
    """A VC Data Model 1.1 presentation JWT (``vp`` claim) of VC 1.1 credential JWTs."""
    require_aware(now)
    _own_kid(kid, holder_did, verifier_did)
    claims: dict[str, Any] = {
        **_jwt_claims(holder_did, verifier_did, now, lifetime),
        "sub": holder_did,
        "nbf": to_numeric_date(now),
        "vp": {
            "@context": [vocab.VC_V1_CONTEXT, vocab.PRESENTATION_SUBMISSION_CONTEXT],
            "type": [vocab.VERIFIABLE_PRESENTATION],
            "holder": holder_did,
            "verifiableCredential": list(credentials),
        },
    }
    if nonce is not None:
        claims["nonce"] = nonce
    return sign_jwt(key, claims, {"typ": vocab.JWT_TYP, "kid": kid})


def issue_presentations(
    key: PrivateKey,
    kid: str,
    holder_did: str,
    verifier_did: str,
    credentials: Sequence[str],
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
    nonce: str | None = None,
) -> tuple[str, ...]:
    """What a credential service answers with: one presentation per profile among `credentials` (dcp.profiles.md
    homogeneity), VC 2.0 first; VC 2.0 ones enveloped. No credentials at all give one empty VC 2.0 presentation."""
    by_profile: dict[str, list[str]] = {vocab.PROFILE_VC20: [], vocab.PROFILE_VC11: []}
    for credential in credentials:
        by_profile[read_credential_unverified(credential).profile].append(credential)
    presentations = []
    if by_profile[vocab.PROFILE_VC20] or not by_profile[vocab.PROFILE_VC11]:
        inner = issue_presentation(
            key, kid, holder_did, verifier_did, by_profile[vocab.PROFILE_VC20], now, lifetime, nonce
        )
        presentations.append(envelope_presentation(key, kid, holder_did, verifier_did, inner, now, lifetime))
    if by_profile[vocab.PROFILE_VC11]:
        presentations.append(
            issue_vc11_presentation(
                key, kid, holder_did, verifier_did, by_profile[vocab.PROFILE_VC11], now, lifetime, nonce
            )
        )
    return tuple(presentations)


# ---------------------------------------------------------------------------------------------------------
# Verification


@dataclass(frozen=True)
class VerifiedPresentation:
    """A presentation whose holder signature, audience and times checked out; credentials still to verify."""

    holder: str
    kid: str
    jti: str | None
    nonce: str | None
    issued_at: datetime | None
    expires_at: datetime | None  # None: the presentation states no expiry (an IdentityHub VC 2.0 one)
    credentials: tuple[str, ...]  # compact credential JWTs, as presented
    sha256: str
    profile: str = vocab.PROFILE_VC20


def _types_of(raw: object) -> list[Any]:
    return [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []


def _holder_of(raw: object) -> object:
    return raw.get("id") if isinstance(raw, dict) else raw


def _enveloped(entry: object, index: int) -> str:
    where = f"verifiableCredential[{index}]"
    if not isinstance(entry, dict):
        raise ConnectorError(
            "presentation.malformed", "credentials must be EnvelopedVerifiableCredential objects", where
        )
    if vocab.ENVELOPED_VERIFIABLE_CREDENTIAL not in _types_of(entry.get("type")):
        raise ConnectorError("presentation.malformed", "credential is not an EnvelopedVerifiableCredential", where)
    data_url = entry.get("id")
    if not isinstance(data_url, str) or not data_url.startswith(vocab.VC_JWT_DATA_URL_PREFIX):
        raise ConnectorError(
            "presentation.malformed", f"enveloped credential id must start with {vocab.VC_JWT_DATA_URL_PREFIX}", where
        )
    return data_url[len(vocab.VC_JWT_DATA_URL_PREFIX) :]


def _credential_list(raw: object, what: str) -> list[Any]:
    entries = [raw] if isinstance(raw, (dict, str)) else raw
    if not isinstance(entries, list) or len(entries) > MAX_CREDENTIALS:
        raise ConnectorError(
            f"{what}.malformed",
            f"verifiableCredential must be a list of at most {MAX_CREDENTIALS}",
            "verifiableCredential",
        )
    return entries


def _holder_signature(jwt: Jwt, holder: str, holder_document: DidDocument, what: str) -> str:
    """Check the holder's signature; returns the verification method that made it."""
    if "kid" in jwt.header and did_of_kid(jwt.kid, what)[0] != holder:
        raise ConnectorError(
            f"{what}.signer_not_holder", "presentation is signed with a key of another party than the holder", "kid"
        )
    if holder_document.id != holder:
        raise ConnectorError(f"{what}.signer_not_holder", "the DID document supplied is not the holder's", "kid")
    try:
        method, key = holder_document.usable_key(jwt.kid, AUTHENTICATION)
    except ConnectorError as exc:
        check = {"did.key_relationship": "kid_relationship", "did.key_unsupported": "key_unsupported"}
        raise ConnectorError(f"{what}.{check.get(exc.code, 'kid_unknown')}", exc.reason, "kid") from None
    verify_signature(jwt, key, what)
    return method.id


def _checked_holder(raw: object, iss: object, expected_holder: str, what: str) -> str:
    holder = _holder_of(raw) if raw is not None else iss
    if not isinstance(holder, str) or not holder:
        raise ConnectorError(f"{what}.malformed", "presentation names no holder", "holder")
    if (iss if iss is not None else holder) != holder:
        raise ConnectorError(f"{what}.malformed", "JWT iss disagrees with the presentation holder", "iss")
    if holder != expected_holder:
        raise ConnectorError(
            f"{what}.holder_mismatch", "presentation holder is not the participant being verified", "holder"
        )
    return holder


def _required_claims(
    c: Mapping[str, Any],
    verifier_did: str,
    now: datetime,
    leeway: timedelta,
    max_lifetime: timedelta,
    what: str,
    *,
    require_iat: bool = True,
) -> Window:
    if single_audience(c, what) != verifier_did:
        raise ConnectorError(f"{what}.audience", "presentation is addressed to another verifier", "aud")
    window = read_window(c, what, require_iat=require_iat)
    check_window(window, what, now, leeway, max_lifetime)
    return window


def _claims_where_present(
    c: Mapping[str, Any], verifier_did: str, now: datetime, leeway: timedelta, max_lifetime: timedelta, what: str
) -> Window | None:
    """The audience and times of a wrapped VC 2.0 presentation layer, checked when it states them."""
    if "aud" in c and single_audience(c, what) != verifier_did:
        raise ConnectorError(f"{what}.audience", "presentation is addressed to another verifier", "aud")
    if "exp" in c:
        window = read_window(c, what, require_iat=False)
        check_window(window, what, now, leeway, max_lifetime)
        return window
    for name in ("iat", "nbf"):
        moment = optional_time(c, name, what)
        if moment is not None and moment > now + leeway:
            raise ConnectorError(f"{what}.not_yet_valid", f"presentation {name} lies in the future", name)
    return None


def verify_presentation(
    token: object,
    holder_document: DidDocument,
    expected_holder: str,
    verifier_did: str,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
) -> VerifiedPresentation:
    """Check a presentation JWT of any form above: holder, holder signature, audience, times."""
    require_aware(now)
    what = "presentation"
    jwt = parse_jwt(token, what)
    if "vp" in jwt.claims:
        return _verify_vc11(jwt, holder_document, expected_holder, verifier_did, now, leeway, max_lifetime)
    if vocab.ENVELOPED_VERIFIABLE_PRESENTATION in _types_of(jwt.claims.get("type")):
        return _verify_wrapped(jwt, holder_document, expected_holder, verifier_did, now, leeway, max_lifetime)
    return _verify_vc20(jwt, holder_document, expected_holder, verifier_did, now, leeway, max_lifetime, True)


def _vc20_typ(jwt: Jwt, what: str) -> None:
    typ = jwt.header.get("typ")
    if typ is not None and typ not in (vocab.VP_JWT_TYP, "application/" + vocab.VP_JWT_TYP):
        raise ConnectorError(f"{what}.media_type", f"presentation header typ must be {vocab.VP_JWT_TYP!r}", "typ")


def _vc20_context(c: Mapping[str, Any], what: str) -> None:
    context = c.get("@context")
    if not isinstance(context, list) or not context or context[0] != vocab.VC_CONTEXT:
        raise ConnectorError(f"{what}.malformed", f"@context must start with {vocab.VC_CONTEXT}", "@context")


def _verify_vc20(
    jwt: Jwt,
    holder_document: DidDocument,
    expected_holder: str,
    verifier_did: str,
    now: datetime,
    leeway: timedelta,
    max_lifetime: timedelta,
    claims_required: bool,
) -> VerifiedPresentation:
    what = "presentation"
    _vc20_typ(jwt, what)
    c = jwt.claims
    _vc20_context(c, what)
    if vocab.VERIFIABLE_PRESENTATION not in _types_of(c.get("type")):
        raise ConnectorError(f"{what}.malformed", "type must include VerifiablePresentation", "type")
    holder = _checked_holder(c.get("holder"), c.get("iss"), expected_holder, what)
    kid = _holder_signature(jwt, holder, holder_document, what)
    if claims_required:
        window: Window | None = _required_claims(c, verifier_did, now, leeway, max_lifetime, what)
    else:
        window = _claims_where_present(c, verifier_did, now, leeway, max_lifetime, what)
    entries = _credential_list(c.get("verifiableCredential", []), what)
    return VerifiedPresentation(
        holder=holder,
        kid=kid,
        jti=optional_string(c, "jti", what),
        nonce=optional_string(c, "nonce", what),
        issued_at=optional_time(c, "iat", what),
        expires_at=window.expires_at if window is not None else None,
        credentials=tuple(_enveloped(e, i) for i, e in enumerate(entries)),
        sha256=sha256_hex(jwt.token.encode("ascii")),
        profile=vocab.PROFILE_VC20,
    )


def _verify_wrapped(
    outer: Jwt,
    holder_document: DidDocument,
    expected_holder: str,
    verifier_did: str,
    now: datetime,
    leeway: timedelta,
    max_lifetime: timedelta,
) -> VerifiedPresentation:
    what = "presentation"
    _vc20_typ(outer, what)
    c = outer.claims
    _vc20_context(c, what)
    data_url = c.get("id")
    if not isinstance(data_url, str) or not data_url.startswith(vocab.VP_JWT_DATA_URL_PREFIX):
        raise ConnectorError(
            f"{what}.malformed", f"enveloped presentation id must start with {vocab.VP_JWT_DATA_URL_PREFIX}", "id"
        )
    inner = parse_jwt(data_url[len(vocab.VP_JWT_DATA_URL_PREFIX) :], what)
    if "vp" in inner.claims or vocab.ENVELOPED_VERIFIABLE_PRESENTATION in _types_of(inner.claims.get("type")):
        raise ConnectorError(f"{what}.malformed", "an enveloped presentation holds one VC 2.0 presentation", "id")
    presented = _verify_vc20(inner, holder_document, expected_holder, verifier_did, now, leeway, max_lifetime, False)
    if c.get("iss", presented.holder) != presented.holder:
        raise ConnectorError(
            f"{what}.malformed", "JWT iss of the envelope disagrees with the presentation holder", "iss"
        )
    kid = _holder_signature(outer, presented.holder, holder_document, what)
    window = _claims_where_present(c, verifier_did, now, leeway, max_lifetime, what)
    expiries = [e for e in (presented.expires_at, window.expires_at if window else None) if e is not None]
    return VerifiedPresentation(
        holder=presented.holder,
        kid=kid,
        jti=optional_string(c, "jti", what) or presented.jti,
        nonce=presented.nonce,
        issued_at=optional_time(c, "iat", what) or presented.issued_at,
        expires_at=min(expiries) if expiries else None,
        credentials=presented.credentials,
        sha256=sha256_hex(outer.token.encode("ascii")),
        profile=vocab.PROFILE_VC20,
    )


def _verify_vc11(
    jwt: Jwt,
    holder_document: DidDocument,
    expected_holder: str,
    verifier_did: str,
    now: datetime,
    leeway: timedelta,
    max_lifetime: timedelta,
) -> VerifiedPresentation:
    what = "presentation"
    typ = jwt.header.get("typ")
    if typ is not None and typ != vocab.JWT_TYP:
        raise ConnectorError(f"{what}.media_type", "a VC 1.1 JWT presentation has typ 'JWT' or none", "typ")
    c = jwt.claims
    if "@context" in c or "verifiableCredential" in c:
        raise ConnectorError(f"{what}.malformed", "a vp claim and VC 2.0 presentation members cannot be mixed", "vp")
    vp = c["vp"]
    if not isinstance(vp, dict):
        raise ConnectorError(f"{what}.malformed", "the vp claim is not an object", "vp")
    context = vp.get("@context")
    if not isinstance(context, list) or not context or context[0] != vocab.VC_V1_CONTEXT:
        raise ConnectorError(f"{what}.malformed", f"vp.@context must start with {vocab.VC_V1_CONTEXT}", "vp.@context")
    if vocab.VERIFIABLE_PRESENTATION not in _types_of(vp.get("type")):
        raise ConnectorError(f"{what}.malformed", "vp.type must include VerifiablePresentation", "vp.type")
    holder = _checked_holder(vp.get("holder"), c.get("iss"), expected_holder, what)
    kid = _holder_signature(jwt, holder, holder_document, what)
    window = _required_claims(c, verifier_did, now, leeway, max_lifetime, what, require_iat=False)
    entries = _credential_list(vp.get("verifiableCredential", []), what)
    for i, entry in enumerate(entries):
        if not isinstance(entry, str) or not entry:
            raise ConnectorError(
                f"{what}.malformed",
                "credentials of a VC 1.1 JWT presentation are credential JWTs (strings)",
                f"vp.verifiableCredential[{i}]",
            )
    nonce = optional_string(c, "nonce", what)
    return VerifiedPresentation(
        holder=holder,
        kid=kid,
        jti=optional_string(c, "jti", what),
        nonce=nonce if nonce is not None else optional_string(vp, "nonce", what),
        issued_at=window.issued_at if window.issued_at is not None else window.not_before,
        expires_at=window.expires_at,
        credentials=tuple(entries),
        sha256=sha256_hex(jwt.token.encode("ascii")),
        profile=vocab.PROFILE_VC11,
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
        if not isinstance(message["presentationDefinition"], Mapping):
            raise ConnectorError("dcp.malformed", "presentationDefinition must be an object", "presentationDefinition")
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
    if "presentationSubmission" in message and not isinstance(message["presentationSubmission"], Mapping):
        raise ConnectorError("dcp.malformed", "presentationSubmission must be an object", "presentationSubmission")
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
