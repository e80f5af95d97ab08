"""DCP credential issuance (credential.issuance.protocol.md), pure: the messages of both sides, and the checks of
the tokens that carry them.

The flow, as this project runs it:

1. The holder asks the issuer service's metadata (``GET <base>/metadata``: `IssuerMetadata`, the credentials it
   issues as `CredentialObject` entries), then sends a `CredentialRequestMessage` (``POST <base>/credentials``)
   with a self-issued ID token addressed to the issuer. The token proves control of the holder's DID: it is signed
   by the key of the holder's DID document, which the issuer resolves. Its ``token`` claim is a *storage grant*:
   an access token the holder signs, allowing that issuer to write credentials of the requested types into the
   holder's credential service.
2. The issuer answers 201 with the request's status location (``<base>/requests/<issuerPid>``, a
   `CredentialStatus`, readable by the holder alone, with a fresh ID token).
3. Once the request is approved (by the issuer's operator, or at once for a participant it onboarded), the issuer
   sends a `CredentialMessage` to the holder's Storage API (``POST <credential service>/credentials``) with an ID
   token of its own carrying the storage grant; a refusal is a `CredentialMessage` with status ``REJECTED``.

Choices: credentials travel as JWTs (``format`` ``jwt``); the issuer's ID token is verified with the key its
``kid`` names among the issuer's keys (an issuer's DID document lists its credential key for assertions, and a
trust list carries the same key), since an issuer presents no certificate of its own on this call; the storage
grant lives as long as an approval may take (`GRANT_LIFETIME`), and the holder accepts it only with a request
of its own still waiting for that issuer.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connector.errors import ConnectorError
from connector.keys import PrivateKey, VerifyingKey
from connector.trust import vocab
from connector.trust.compact import (
    check_window,
    did_of_kid,
    parse_jwt,
    read_window,
    required_string,
    sign_jwt,
    single_audience,
    strict_json,
    verify_signature,
)
from connector.trust.did import CAPABILITY_INVOCATION, DidDocument, parse_did
from connector.trust.scopes import VC_TYPE_ALIAS
from connector.trust.times import require_aware, to_numeric_date
from connector.trust.tokens import (
    ACCESS_TOKEN_TYP,
    DEFAULT_LEEWAY,
    DEFAULT_MAX_LIFETIME,
    IdTokenFacts,
    UnverifiedIdToken,
    read_id_token,
    verify_id_token,
)

ISSUER_METADATA = "IssuerMetadata"
CREDENTIAL_OBJECT = "CredentialObject"
CREDENTIAL_REQUEST_MESSAGE = "CredentialRequestMessage"
CREDENTIAL_MESSAGE = "CredentialMessage"
CREDENTIAL_STATUS = "CredentialStatus"
ISSUER_SERVICE = "IssuerService"

METADATA_PATH = "/metadata"
CREDENTIALS_PATH = vocab.CREDENTIALS_PATH
REQUESTS_PATH = "/requests/"

RECEIVED = "RECEIVED"
ISSUED = "ISSUED"
REJECTED = "REJECTED"
STATUSES = (RECEIVED, REJECTED, ISSUED)
JWT_FORMAT = "jwt"
WRITE = "write"

GRANT_LIFETIME = timedelta(days=7)  # an operator's approval may take days
MAX_MESSAGE_BYTES = 1024 * 1024
MAX_CREDENTIALS = 16
_PID = re.compile(r"^[\x21-\x7e]{1,200}$")
_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")


def _malformed(why: str, where: str | None = None) -> ConnectorError:
    return ConnectorError("dcp.malformed", why, where)


def _message(data: bytes | str | Mapping[str, Any], expected_type: str) -> Mapping[str, Any]:
    if isinstance(data, (bytes, bytearray, str)):
        if len(data) > MAX_MESSAGE_BYTES:
            raise _malformed(f"message larger than {MAX_MESSAGE_BYTES} bytes")
        data = strict_json(data, "dcp.malformed", expected_type)
    if not isinstance(data, Mapping):
        raise _malformed(f"{expected_type} is not a JSON object")
    context = data.get("@context")
    if (
        not isinstance(context, list)
        or vocab.DCP_CONTEXT not in context
        or not all(isinstance(x, str) for x in context)
    ):
        raise _malformed(f"@context must be a list including {vocab.DCP_CONTEXT}", "@context")
    if data.get("type") != expected_type:
        raise _malformed(f"message type is not {expected_type}", "type")
    return data


def _pid(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not _PID.match(value):
        raise _malformed(f"{name} must be a printable string of at most 200 characters", name)
    return value


def _optional_pid(data: Mapping[str, Any], name: str) -> str | None:
    return _pid(data, name) if data.get(name) is not None else None


# ---------------------------------------------------------------------------------------------------------
# Issuer metadata


@dataclass(frozen=True)
class CredentialObject:
    """A credential the issuer issues (every optional property set, as the metadata must carry them)."""

    id: str
    credential_type: str
    credential_schema: str
    profile: str = vocab.PROFILE_VC20
    binding_methods: tuple[str, ...] = ("did:web",)
    offer_reason: str = "reissue"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": CREDENTIAL_OBJECT,
            "credentialType": self.credential_type,
            "credentialSchema": self.credential_schema,
            "offerReason": self.offer_reason,
            "bindingMethods": list(self.binding_methods),
            "profile": self.profile,
        }


@dataclass(frozen=True)
class IssuerMetadata:
    issuer: str
    credentials: tuple[CredentialObject, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "@context": [vocab.DCP_CONTEXT],
            "type": ISSUER_METADATA,
            "issuer": self.issuer,
            "credentialsSupported": [c.to_json() for c in self.credentials],
        }

    def object_for(self, credential_type: str) -> CredentialObject:
        for c in self.credentials:
            if c.credential_type == credential_type:
                return c
        offered = ", ".join(sorted(c.credential_type for c in self.credentials)) or "nothing"
        raise ConnectorError(
            "issuance.type_not_offered",
            f"the issuer {self.issuer} does not issue {credential_type} (it issues {offered})",
            "credentials",
        )


def parse_issuer_metadata(data: bytes | str | Mapping[str, Any]) -> IssuerMetadata:
    message = _message(data, ISSUER_METADATA)
    issuer = message.get("issuer")
    if not isinstance(issuer, str) or not issuer.startswith("did:"):
        raise _malformed("issuer must be the issuer's DID", "issuer")
    raw = message.get("credentialsSupported")
    if not isinstance(raw, list) or len(raw) > 100:
        raise _malformed("credentialsSupported must be a list", "credentialsSupported")
    objects = []
    for i, entry in enumerate(raw):
        where = f"credentialsSupported[{i}]"
        if not isinstance(entry, Mapping) or entry.get("type") != CREDENTIAL_OBJECT:
            raise _malformed("each entry is a CredentialObject", where)
        ident, kind = entry.get("id"), entry.get("credentialType")
        if not isinstance(ident, str) or not ident or not isinstance(kind, str) or not kind:
            raise _malformed("a CredentialObject needs an id and a credentialType", where)
        methods = entry.get("bindingMethods", [])
        objects.append(
            CredentialObject(
                ident,
                kind,
                str(entry.get("credentialSchema", "")),
                str(entry.get("profile", vocab.PROFILE_VC20)),
                tuple(str(m) for m in methods) if isinstance(methods, list) else (),
                str(entry.get("offerReason", "")),
            )
        )
    return IssuerMetadata(issuer, tuple(objects))


# ---------------------------------------------------------------------------------------------------------
# Requests and their status


@dataclass(frozen=True)
class CredentialRequestMessage:
    holder_pid: str
    credential_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "@context": [vocab.DCP_CONTEXT],
            "type": CREDENTIAL_REQUEST_MESSAGE,
            "holderPid": self.holder_pid,
            "credentials": [{"id": i} for i in self.credential_ids],
        }


def parse_credential_request(data: bytes | str | Mapping[str, Any]) -> CredentialRequestMessage:
    message = _message(data, CREDENTIAL_REQUEST_MESSAGE)
    holder_pid = _pid(message, "holderPid")
    raw = message.get("credentials")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_CREDENTIALS:
        raise _malformed(f"credentials must list 1 to {MAX_CREDENTIALS} objects with an id", "credentials")
    ids = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str) or not entry["id"]:
            raise _malformed("each entry of credentials is an object with an id", f"credentials[{i}]")
        ids.append(entry["id"])
    if len(set(ids)) != len(ids):
        raise _malformed("a credential is asked for twice", "credentials")
    return CredentialRequestMessage(holder_pid, tuple(ids))


@dataclass(frozen=True)
class CredentialStatus:
    issuer_pid: str
    holder_pid: str
    status: str

    def to_json(self) -> dict[str, Any]:
        return {
            "@context": [vocab.DCP_CONTEXT],
            "type": CREDENTIAL_STATUS,
            "issuerPid": self.issuer_pid,
            "holderPid": self.holder_pid,
            "status": self.status,
        }


def parse_credential_status(data: bytes | str | Mapping[str, Any]) -> CredentialStatus:
    message = _message(data, CREDENTIAL_STATUS)
    status = message.get("status")
    if status not in STATUSES:
        raise _malformed(f"status must be one of {', '.join(STATUSES)}", "status")
    return CredentialStatus(_pid(message, "issuerPid"), _pid(message, "holderPid"), str(status))


# ---------------------------------------------------------------------------------------------------------
# Delivery


@dataclass(frozen=True)
class CredentialContainer:
    credential_type: str
    payload: str
    format: str = JWT_FORMAT

    def to_json(self) -> dict[str, Any]:
        return {"credentialType": self.credential_type, "payload": self.payload, "format": self.format}


@dataclass(frozen=True)
class CredentialMessage:
    issuer_pid: str
    holder_pid: str | None
    status: str  # ISSUED or REJECTED
    credentials: tuple[CredentialContainer, ...] = ()
    rejection_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "@context": [vocab.DCP_CONTEXT],
            "type": CREDENTIAL_MESSAGE,
            "issuerPid": self.issuer_pid,
            "status": self.status,
        }
        if self.holder_pid is not None:
            body["holderPid"] = self.holder_pid
        if self.credentials:
            body["credentials"] = [c.to_json() for c in self.credentials]
        if self.rejection_reason is not None:
            body["rejectionReason"] = self.rejection_reason
        return body


def parse_credential_message(data: bytes | str | Mapping[str, Any]) -> CredentialMessage:
    message = _message(data, CREDENTIAL_MESSAGE)
    status = message.get("status")
    if status not in (ISSUED, REJECTED):
        raise _malformed("status must be ISSUED or REJECTED", "status")
    raw = message.get("credentials", [])
    if not isinstance(raw, list) or len(raw) > MAX_CREDENTIALS:
        raise _malformed(f"credentials must be a list of at most {MAX_CREDENTIALS}", "credentials")
    containers = []
    for i, entry in enumerate(raw):
        where = f"credentials[{i}]"
        if not isinstance(entry, Mapping):
            raise _malformed("each credential is a CredentialContainer object", where)
        kind, payload, fmt = entry.get("credentialType"), entry.get("payload"), entry.get("format")
        if not isinstance(kind, str) or not isinstance(payload, str) or not isinstance(fmt, str):
            raise _malformed("a CredentialContainer has credentialType, payload and format strings", where)
        if fmt.lower() not in (JWT_FORMAT, vocab.VC_JWT_TYP):
            raise ConnectorError(
                "dcp.format_unsupported", f"credentials in format {fmt[:40]!r} are not accepted", where
            )
        containers.append(CredentialContainer(kind, payload, fmt))
    if status == ISSUED and not containers:
        raise _malformed("an ISSUED message carries the credentials", "credentials")
    reason = message.get("rejectionReason")
    if reason is not None and not isinstance(reason, str):
        raise _malformed("rejectionReason must be a string", "rejectionReason")
    return CredentialMessage(
        _pid(message, "issuerPid"), _optional_pid(message, "holderPid"), str(status), tuple(containers), reason
    )


# ---------------------------------------------------------------------------------------------------------
# Tokens


def write_scopes(credential_types: Iterable[str]) -> tuple[str, ...]:
    return tuple(f"{VC_TYPE_ALIAS}:{t}:{WRITE}" for t in sorted(set(credential_types)))


def issue_storage_grant(
    key: PrivateKey,
    kid: str,
    holder_did: str,
    issuer_did: str,
    credential_types: Sequence[str],
    now: datetime,
    lifetime: timedelta = GRANT_LIFETIME,
) -> str:
    """The holder's access token that lets `issuer_did` write credentials of these types into its credential
    service (the ``token`` claim of the holder's request, returned in the issuer's delivery). Shaped like the
    access tokens of the presentation flow, with ``write`` scopes (which a presentation query never grants)."""
    require_aware(now)
    parse_did(holder_did)
    parse_did(issuer_did)
    if did_of_kid(kid, "access_token")[0] != holder_did:
        raise ConnectorError("access_token.kid_unknown", f"key id {kid!r} does not belong to {holder_did}", "kid")
    scopes = write_scopes(credential_types)
    if not scopes or not all(_TYPE_NAME.match(t) for t in credential_types):
        raise ConnectorError("access_token.scope", "a storage grant names credential types", "types")
    iat = to_numeric_date(now)
    claims = {
        "iss": holder_did,
        "aud": holder_did,
        "sub": issuer_did,
        "scope": " ".join(scopes),
        "jti": f"urn:uuid:{uuid.uuid4()}",
        "iat": iat,
        "nbf": iat,
        "exp": iat + int(lifetime.total_seconds()),
    }
    return sign_jwt(key, claims, {"typ": ACCESS_TOKEN_TYP, "kid": kid})


def read_request_token(
    token: object,
    issuer_did: str,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
) -> UnverifiedIdToken:
    """Issuer side: every check of a holder's ID token that needs no key (the holder presents no certificate to
    the issuer service, so the token's own issuer is the party it speaks for)."""
    claimed = parse_jwt(token, "token").claims.get("iss")
    return read_id_token(token, issuer_did, claimed if isinstance(claimed, str) else "", now, leeway, max_lifetime)


def check_request_token(unverified: UnverifiedIdToken, holder_document: DidDocument) -> IdTokenFacts:
    """Issuer side: the signature, by a key of the holder's DID document (proof of control of the DID)."""
    return verify_id_token(unverified, holder_document)


def read_delivery_token(
    token: object,
    holder_did: str,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
) -> UnverifiedIdToken:
    """Holder side: every check of an issuer's ID token that needs no key; it must carry the storage grant."""
    unverified = read_request_token(token, holder_did, now, leeway, max_lifetime)
    if unverified.facts.access_token is None:
        raise ConnectorError("access_token.missing", "the issuer's ID token carries no storage grant", "token")
    if not unverified.jwt.kid:
        raise ConnectorError("token.kid_unknown", "the issuer's ID token names no key (kid)", "kid")
    return unverified


def check_delivery_token(unverified: UnverifiedIdToken, issuer_key: VerifyingKey) -> IdTokenFacts:
    """Holder side: the issuer's signature, with the key its kid names among the issuer's keys."""
    verify_signature(unverified.jwt, issuer_key, "token")
    return unverified.facts


def check_storage_grant(
    grant: str,
    holder_document: DidDocument,
    issuer_did: str,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
) -> frozenset[str]:
    """Holder side: the storage grant is this holder's own, addressed to itself, given to `issuer_did`, still valid;
    returns the credential types it lets the issuer write."""
    what = "access_token"
    jwt = parse_jwt(grant, what)
    if jwt.header.get("typ") != ACCESS_TOKEN_TYP:
        raise ConnectorError(f"{what}.type", f"access tokens carry typ {ACCESS_TOKEN_TYP!r}", "typ")
    owner = holder_document.id
    kid_did, _ = did_of_kid(jwt.kid, what)
    if kid_did != owner:
        raise ConnectorError(f"{what}.issuer", "the storage grant was not signed by this holder", "kid")
    try:
        _, key = holder_document.usable_key(jwt.kid, CAPABILITY_INVOCATION)
    except ConnectorError as exc:
        raise ConnectorError(f"{what}.kid_unknown", exc.reason, "kid") from None
    verify_signature(jwt, key, what)
    claims = jwt.claims
    if required_string(claims, "iss", what) != owner or single_audience(claims, what) != owner:
        raise ConnectorError(f"{what}.audience", "the storage grant is not for this credential service", "aud")
    if required_string(claims, "sub", what) != issuer_did:
        raise ConnectorError(f"{what}.subject", "the storage grant was given to another issuer", "sub")
    check_window(read_window(claims, what), what, now, leeway, GRANT_LIFETIME + leeway)
    granted = set()
    for scope in required_string(claims, "scope", what).split(" "):
        alias, _, rest = scope.partition(":")
        kind, _, operation = rest.rpartition(":")
        if alias == VC_TYPE_ALIAS and operation in (WRITE, "all") and _TYPE_NAME.match(kind):
            granted.add(kind)
    return frozenset(granted)
