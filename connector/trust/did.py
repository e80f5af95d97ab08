"""did:web identifiers and DID documents: syntax, URL mapping, building and strict reading.

A participant id is a did:web DID; its DID document carries the signing key (as a P-256 JWK with an ``x5c``
chain up to the federation root, so the key can also be checked offline) and the service entries a peer needs:
the DCP ``CredentialService`` and the DSP ``DataService``. A credential issuer's DID document
(`build_issuer_did_document`) carries only its keys, so that the ``kid`` of what it signs resolves.

Choices where the specifications leave room (the stricter one each time):
- DID syntax: the host is lower-case DNS labels (no IP literal, as did:web requires), an optional port written
  ``%3A<port>`` with upper-case hex and no leading zero, then ``:``-separated path segments of
  ``[A-Za-z0-9._-]`` that are neither ``.`` nor ``..``. No other percent-encoding is accepted, so every
  participant has exactly one spelling and string comparison of participant ids is sound.
- The document ``id`` must equal the DID that was resolved; verification methods must be controlled by that DID
  (no keys delegated to another controller); a public JWK carrying private members is refused outright.
- Keys are only usable through a verification relationship: ID tokens need ``capabilityInvocation``
  (DCP 1.0 base protocol), presentations ``authentication`` (DCP presentation validation), anything the
  participant asserts ``assertionMethod``. A document that does not distinguish signing purposes - it lists no
  key under ``assertionMethod``, ``capabilityInvocation`` or ``capabilityDelegation``, as EDC IdentityHub
  publishes them - is read for what it says: its ``authentication`` keys (or, when it lists no relationship at
  all, every key) serve for ID tokens and presentations (`DidDocument.usable_key`). A document that does
  distinguish them is taken at its word.
- Usable keys are JWKs (``publicKeyJwk``) of type ``JsonWebKey2020`` or ``JsonWebKey``: EC P-256 or P-384,
  Ed25519, RSA of at least 2048 bits (`connector.keys.verifying_key_from_jwk`).
- Without a ``kid``, the key is the document's one key usable for the purpose; none or several is a refusal.
- Service endpoints this package reads must be absolute https URLs.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from connector.errors import ConnectorError
from connector.keys import VerifyingKey, cert_der_b64, public_jwk, same_public_key, verifying_key_from_jwk
from connector.trust import vocab
from connector.trust.compact import strict_json
from connector.trust.times import require_aware

AUTHENTICATION = "authentication"
ASSERTION_METHOD = "assertionMethod"
CAPABILITY_INVOCATION = "capabilityInvocation"
CAPABILITY_DELEGATION = "capabilityDelegation"
KEY_AGREEMENT = "keyAgreement"
RELATIONSHIPS = (AUTHENTICATION, ASSERTION_METHOD, CAPABILITY_INVOCATION, CAPABILITY_DELEGATION, KEY_AGREEMENT)
DEFAULT_RELATIONSHIPS = (AUTHENTICATION, ASSERTION_METHOD, CAPABILITY_INVOCATION)
# Relationships that set signing keys apart by purpose; a document listing none of them does not.
_PURPOSE_RELATIONSHIPS = frozenset({ASSERTION_METHOD, CAPABILITY_INVOCATION, CAPABILITY_DELEGATION})
KEY_TYPES = (vocab.JSON_WEB_KEY_2020, vocab.JSON_WEB_KEY)

MAX_DID_LENGTH = 2048
MAX_DOCUMENT_BYTES = 256 * 1024

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_PORT = re.compile(r"^[1-9][0-9]{0,4}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
_FRAGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@/?-]+$")
_PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_MAX_CERTIFIED = 16


@dataclass(frozen=True)
class DidWeb:
    """A syntactically valid did:web DID, split into the parts its URL is made of."""

    did: str
    host: str  # DNS name, lower case
    port: int | None
    path: tuple[str, ...]

    @property
    def url(self) -> str:
        """Where the DID document lives (did:web method specification, Read operation)."""
        authority = self.host if self.port is None else f"{self.host}:{self.port}"
        if not self.path:
            return f"https://{authority}/.well-known/did.json"
        return f"https://{authority}/{'/'.join(self.path)}/did.json"


def _invalid(did: object, why: str) -> ConnectorError:
    shown = did if isinstance(did, str) and len(did) <= 200 else "(value)"
    return ConnectorError("did.invalid", f"not a valid did:web DID: {why}", str(shown))


def _check_host(host: str, did: str) -> None:
    if len(host) > 253:
        raise _invalid(did, "host name is too long")
    if _IPV4.match(host):
        raise _invalid(did, "did:web does not allow IP addresses")
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise _invalid(did, "host must be lower-case DNS labels (letters, digits, hyphens)")


def parse_did(did: object) -> DidWeb:
    """Validate a did:web DID and split it; raises ConnectorError('did.invalid')."""
    if type(did) is str and len(did) <= MAX_DID_LENGTH:
        return _parse_known(did)
    return _parse_did(did)


@functools.lru_cache(maxsize=1024)
def _parse_known(did: str) -> DidWeb:
    # The same few peers' DIDs are checked on every token and request: the answer is a pure function of the
    # string (refusals raise, and are not cached).
    return _parse_did(did)


def _parse_did(did: object) -> DidWeb:
    if not isinstance(did, str):
        raise _invalid(did, "a DID is a string")
    if len(did) > MAX_DID_LENGTH:
        raise _invalid(did, f"longer than {MAX_DID_LENGTH} characters")
    if not did.startswith("did:web:"):
        raise _invalid(did, "must start with 'did:web:'")
    segments = did[len("did:web:") :].split(":")
    authority, path = segments[0], tuple(segments[1:])
    if authority == "":
        raise _invalid(did, "no host")
    host, sep, port_text = authority.partition("%3A")
    port: int | None = None
    if sep:
        if not _PORT.match(port_text) or not 0 < int(port_text) <= 65535:
            raise _invalid(did, "port must be written %3A followed by 1-65535")
        port = int(port_text)
    _check_host(host, did)
    for segment in path:
        if not _SEGMENT.match(segment) or segment in (".", ".."):
            raise _invalid(did, "path segments are non-empty [A-Za-z0-9._-], not '.' or '..'")
    if path == (".well-known",):
        # Would resolve to the same URL as the path-less DID of the same host.
        raise _invalid(did, "the path '.well-known' alone is reserved")
    return DidWeb(did=did, host=host, port=port, path=path)


def did_to_url(did: str) -> str:
    """did:web DID -> HTTPS URL of its DID document."""
    return parse_did(did).url


def url_to_did(url: object) -> str:
    """HTTPS URL of a DID document -> the did:web DID it belongs to (inverse of `did_to_url`)."""
    if not isinstance(url, str) or len(url) > MAX_DID_LENGTH:
        raise ConnectorError("did.invalid", "a DID document URL is a string of bounded length")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConnectorError("did.invalid", "not a URL", url[:200]) from None
    if parts.scheme != "https" or parts.query or parts.fragment or "@" in parts.netloc or not parts.hostname:
        raise ConnectorError(
            "did.invalid", "a did:web document URL is https without user, query or fragment", url[:200]
        )
    if parts.netloc != (parts.hostname if port is None else f"{parts.hostname}:{port}"):
        raise ConnectorError("did.invalid", "URL authority is not in canonical form", url[:200])
    if parts.path == "/.well-known/did.json":
        path: list[str] = []
    elif parts.path.startswith("/") and parts.path.endswith("/did.json"):
        path = parts.path[1 : -len("/did.json")].split("/")
    else:
        raise ConnectorError("did.invalid", "path must end in /did.json", url[:200])
    authority = parts.hostname if port is None else f"{parts.hostname}%3A{port}"
    did = ":".join(["did:web", authority, *path])
    parse_did(did)
    return did


def split_did_url(did_url: str) -> tuple[str, str]:
    """``did#fragment`` -> (did, fragment); the DID part is syntax-checked."""
    did, sep, fragment = did_url.partition("#")
    if not sep or not _FRAGMENT.match(fragment):
        raise ConnectorError("did.invalid", "not a DID URL with a fragment", did_url[:200])
    parse_did(did)
    return did, fragment


def did_from_certificate(cert: x509.Certificate) -> str:
    """The participant id a TLS or signing certificate names: its single did:web URI SAN."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ConnectorError("did.certificate", "certificate has no subjectAltName naming a DID") from None
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith("did:")]
    if len(uris) != 1:
        raise ConnectorError(
            "did.certificate", f"certificate names {len(uris)} DIDs in its subjectAltName; exactly one expected"
        )
    parse_did(uris[0])
    return uris[0]


# ---------------------------------------------------------------------------------------------------------
# Building


@dataclass(frozen=True)
class DidKey:
    """A key to publish: its fragment (``key-1`` -> ``<did>#key-1``), the public key, and the x5c chain."""

    fragment: str
    public_key: VerifyingKey
    chain: tuple[x509.Certificate, ...] = ()  # [signing cert, CA cert]
    relationships: tuple[str, ...] = DEFAULT_RELATIONSHIPS


def build_did_document(
    did: str,
    keys: Sequence[DidKey],
    credential_service_url: str,
    dsp_url: str,
) -> dict[str, Any]:
    """A DID document for a participant: JsonWebKey2020 methods with x5c, relationships, DCP and DSP services."""
    parse_did(did)
    if not keys:
        raise ConnectorError("did.document_invalid", "a DID document needs at least one key")
    _require_https(credential_service_url, "credential service URL")
    _require_https(dsp_url, "DSP URL")
    document = _document_with_keys(did, keys, [vocab.DID_CONTEXT, vocab.JWS_2020_CONTEXT, vocab.DCP_CONTEXT])
    document["service"] = [
        {
            "id": f"{did}#credential-service",
            "type": vocab.CREDENTIAL_SERVICE,
            "serviceEndpoint": credential_service_url,
        },
        {"id": f"{did}#dsp", "type": vocab.DATA_SERVICE, "serviceEndpoint": dsp_url},
    ]
    return document


def build_issuer_did_document(did: str, keys: Sequence[DidKey]) -> dict[str, Any]:
    """A DID document for a credential issuer: its keys (usually under ``assertionMethod``) and no services."""
    return _document_with_keys(did, keys, [vocab.DID_CONTEXT, vocab.JWS_2020_CONTEXT])


def _document_with_keys(did: str, keys: Sequence[DidKey], context: list[str]) -> dict[str, Any]:
    parse_did(did)
    if not keys:
        raise ConnectorError("did.document_invalid", "a DID document needs at least one key")
    methods: list[dict[str, Any]] = []
    relations: dict[str, list[str]] = {name: [] for name in RELATIONSHIPS}
    for key in keys:
        if not _FRAGMENT.match(key.fragment):
            raise ConnectorError(
                "did.document_invalid", "key fragment has characters a DID URL cannot carry", key.fragment
            )
        if key.chain and not _holds(key.chain[0], key.public_key):
            raise ConnectorError(
                "did.document_invalid", "first x5c certificate does not hold the published key", key.fragment
            )
        kid = f"{did}#{key.fragment}"
        jwk: dict[str, Any] = {**public_jwk(key.public_key), "kid": kid}
        if key.chain:
            jwk["x5c"] = [cert_der_b64(c) for c in key.chain]
        methods.append({"id": kid, "type": vocab.JSON_WEB_KEY_2020, "controller": did, "publicKeyJwk": jwk})
        for relation in key.relationships:
            if relation not in relations:
                raise ConnectorError("did.document_invalid", f"unknown verification relationship {relation!r}")
            relations[relation].append(kid)
    if len({m["id"] for m in methods}) != len(methods):
        raise ConnectorError("did.document_invalid", "two keys share a fragment")
    document: dict[str, Any] = {"@context": context, "id": did, "verificationMethod": methods}
    document.update({name: ids for name, ids in relations.items() if ids})
    return document


def _holds(cert: x509.Certificate, key: VerifyingKey) -> bool:
    try:
        return same_public_key(cert.public_key(), key)  # type: ignore[arg-type]
    except ConnectorError:  # a certificate key of a type no JWK here describes
        return False


def _require_https(url: object, what: str) -> str:
    if not isinstance(url, str):
        raise ConnectorError("did.document_invalid", f"{what} is not a string")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ConnectorError("did.document_invalid", f"{what} is not a URL", url[:200]) from None
    if parts.scheme != "https" or not parts.hostname or parts.fragment or "@" in parts.netloc:
        raise ConnectorError("did.document_invalid", f"{what} must be an absolute https URL", url[:200])
    return url


# ---------------------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class VerificationMethod:
    id: str  # absolute DID URL
    type: str
    controller: str
    jwk: Mapping[str, Any]
    chain: tuple[x509.Certificate, ...]
    relationships: frozenset[str]


@dataclass(frozen=True)
class Service:
    id: str
    types: tuple[str, ...]
    endpoint: Any  # usually a URL string


@dataclass(frozen=True)
class DidDocument:
    """A DID document read strictly; keys are only handed out through a verification relationship."""

    id: str
    methods: tuple[VerificationMethod, ...]
    services: tuple[Service, ...]
    document: Mapping[str, Any] = field(repr=False, compare=False)
    # Key certificates that passed `verify_key_certificate`: (kid, trusted roots) -> (leaf, valid from, until).
    _certified: dict[tuple[str, frozenset[bytes]], tuple[x509.Certificate, datetime, datetime]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def method(self, kid: str) -> VerificationMethod:
        absolute = self._absolute(kid)
        for method in self.methods:
            if method.id == absolute:
                return method
        raise ConnectorError("did.key_unknown", f"key {kid!r} is not in the DID document of {self.id}", kid)

    def key(self, kid: str, relationship: str = AUTHENTICATION) -> VerifyingKey:
        """The public key for `kid`, if the document lists it under `relationship` (read literally)."""
        method = self.method(kid)
        if relationship not in method.relationships:
            raise ConnectorError(
                "did.key_relationship",
                f"key {kid!r} is not listed under {relationship!r} in the DID document of {self.id}",
                kid,
            )
        return _public_key(method, kid)

    def usable_key(self, kid: str | None, relationship: str) -> tuple[VerificationMethod, VerifyingKey]:
        """The method and key that may sign for `relationship`: the one `kid` names, or without a kid the one key
        of the document usable for it. Relationships are read as the module docstring says (a document that does
        not distinguish signing purposes lends its authentication keys, or all its keys, to both DCP purposes)."""
        if kid is not None:
            method = self.method(kid)
            if not self._serves(method, relationship):
                raise ConnectorError(
                    "did.key_relationship",
                    f"key {kid!r} may not be used for {relationship!r} according to the DID document of {self.id}",
                    kid,
                )
            return method, _public_key(method, kid)
        usable = []
        for method in self.methods:
            if self._serves(method, relationship):
                try:
                    usable.append((method, _public_key(method, method.id)))
                except ConnectorError:
                    continue  # a key of another representation or type is not "usable" for the count
        if len(usable) != 1:
            raise ConnectorError(
                "did.key_unknown",
                f"no key id given and the DID document of {self.id} has {len(usable)} keys usable for "
                f"{relationship!r}; exactly one is needed to go without a key id",
                "kid",
            )
        return usable[0]

    def _serves(self, method: VerificationMethod, relationship: str) -> bool:
        if relationship in method.relationships:
            return True
        if relationship not in (AUTHENTICATION, CAPABILITY_INVOCATION) or self.distinguishes_purposes:
            return False
        if self.lists_authentication:
            return AUTHENTICATION in method.relationships
        return True

    @functools.cached_property
    def distinguishes_purposes(self) -> bool:
        """Whether any key is listed under assertionMethod, capabilityInvocation or capabilityDelegation."""
        return any(m.relationships & _PURPOSE_RELATIONSHIPS for m in self.methods)

    @functools.cached_property
    def lists_authentication(self) -> bool:
        return any(AUTHENTICATION in m.relationships for m in self.methods)

    def service_endpoint(self, service_type: str) -> str:
        """The https endpoint of the single service of `service_type`."""
        found = [s for s in self.services if service_type in s.types]
        if len(found) != 1:
            raise ConnectorError(
                "did.service_missing",
                f"DID document of {self.id} has {len(found)} {service_type!r} services; exactly one expected",
                service_type,
            )
        endpoint = found[0].endpoint
        try:
            return _require_https(endpoint, f"{service_type} endpoint")
        except ConnectorError as exc:
            raise ConnectorError("did.service_invalid", exc.reason, service_type) from None

    @property
    def credential_service_url(self) -> str:
        return self.service_endpoint(vocab.CREDENTIAL_SERVICE)

    @property
    def data_service_url(self) -> str:
        return self.service_endpoint(vocab.DATA_SERVICE)

    def _absolute(self, kid: str) -> str:
        return f"{self.id}{kid}" if isinstance(kid, str) and kid.startswith("#") else kid


def _public_key(method: VerificationMethod, kid: str) -> VerifyingKey:
    if method.type not in KEY_TYPES:
        raise ConnectorError("did.key_unsupported", f"verification method type {method.type!r} is not supported", kid)
    try:
        return verifying_key_from_jwk(dict(method.jwk))
    except ConnectorError as exc:
        raise ConnectorError("did.key_unsupported", f"key {kid!r} is not usable: {exc.reason}", kid) from None


def _malformed(why: str, where: str | None = None) -> ConnectorError:
    return ConnectorError("did.document_malformed", f"DID document is malformed: {why}", where)


def _method_id(value: object, did: str, where: str) -> str:
    if not isinstance(value, str) or value == "":
        raise _malformed("verification method id is not a string", where)
    absolute = f"{did}{value}" if value.startswith("#") else value
    owner, sep, fragment = absolute.partition("#")
    if not sep or owner != did or not _FRAGMENT.match(fragment):
        raise _malformed(f"verification method id {value[:100]!r} is not a fragment of {did}", where)
    return absolute


def _chain(jwk: Mapping[str, Any], where: str) -> tuple[x509.Certificate, ...]:
    x5c = jwk.get("x5c")
    if x5c is None:
        return ()
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
        raise _malformed("x5c is not a non-empty list of base64 certificates", where)
    try:
        return tuple(x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in x5c)
    except (ValueError, binascii.Error):
        raise _malformed("x5c holds something that is not a DER certificate", where) from None


def _read_method(
    raw: object, did: str, where: str
) -> tuple[str, str, str, Mapping[str, Any], tuple[x509.Certificate, ...]]:
    if not isinstance(raw, dict):
        raise _malformed("verification method is not an object", where)
    mid = _method_id(raw.get("id"), did, where)
    mtype, controller, jwk = raw.get("type"), raw.get("controller"), raw.get("publicKeyJwk")
    if not isinstance(mtype, str):
        raise _malformed("verification method type is not a string", where)
    if controller != did:
        raise _malformed("verification method is controlled by another DID", where)
    if jwk is None:
        # Another key representation (multibase, ...): kept so relationships resolve, but never usable here.
        return mid, mtype, controller, MappingProxyType({}), ()
    if not isinstance(jwk, dict):
        raise _malformed("publicKeyJwk is not an object", where)
    if any(name in jwk for name in _PRIVATE_JWK_MEMBERS):
        raise _malformed("publicKeyJwk carries private key material", where)
    return mid, mtype, controller, MappingProxyType(dict(jwk)), _chain(jwk, where)


def parse_did_document(data: bytes | str | Mapping[str, Any], expected_did: str) -> DidDocument:
    """Read a DID document fetched for `expected_did`; raises ConnectorError('did.*')."""
    parse_did(expected_did)
    if isinstance(data, (bytes, bytearray, str)):
        if len(data) > MAX_DOCUMENT_BYTES:
            raise _malformed(f"larger than {MAX_DOCUMENT_BYTES} bytes")
        doc = strict_json(data, "did.document_malformed", "DID document")
    else:
        doc = data
    if not isinstance(doc, Mapping):
        raise _malformed("not a JSON object")
    context = doc.get("@context")
    first = context[0] if isinstance(context, list) and context else context
    if first not in (vocab.DID_CONTEXT, vocab.DID_CONTEXT_V1_1):
        raise _malformed("@context does not start with the DID v1 context", "@context")
    if doc.get("id") != expected_did:
        raise ConnectorError(
            "did.document_mismatch",
            f"DID document id {str(doc.get('id'))[:200]!r} is not the DID that was resolved ({expected_did})",
            "id",
        )
    raw_methods: dict[str, tuple[str, str, str, Mapping[str, Any], tuple[x509.Certificate, ...]]] = {}
    relations: dict[str, set[str]] = {}

    def add(raw: object, where: str) -> str:
        read = _read_method(raw, expected_did, where)
        if read[0] in raw_methods:
            raise _malformed(f"verification method {read[0]!r} is defined twice", where)
        raw_methods[read[0]] = read
        return read[0]

    listed = doc.get("verificationMethod", [])
    if not isinstance(listed, list):
        raise _malformed("verificationMethod is not a list", "verificationMethod")
    for i, raw in enumerate(listed):
        add(raw, f"verificationMethod[{i}]")
    for relation in RELATIONSHIPS:
        entries = doc.get(relation, [])
        if not isinstance(entries, list):
            raise _malformed(f"{relation} is not a list", relation)
        for i, entry in enumerate(entries):
            where = f"{relation}[{i}]"
            mid = _method_id(entry, expected_did, where) if isinstance(entry, str) else add(entry, where)
            relations.setdefault(mid, set()).add(relation)
    for mid in relations:
        if mid not in raw_methods:
            raise _malformed(f"relationship refers to undefined verification method {mid!r}")
    methods = tuple(
        VerificationMethod(mid, mtype, controller, jwk, chain, frozenset(relations.get(mid, ())))
        for mid, mtype, controller, jwk, chain in raw_methods.values()
    )
    return DidDocument(
        expected_did, methods, _read_services(doc.get("service", []), expected_did), MappingProxyType(dict(doc))
    )


def _read_services(raw: object, did: str) -> tuple[Service, ...]:
    if not isinstance(raw, list):
        raise _malformed("service is not a list", "service")
    services = []
    for i, entry in enumerate(raw):
        where = f"service[{i}]"
        if not isinstance(entry, dict):
            raise _malformed("service entry is not an object", where)
        sid, stype = entry.get("id"), entry.get("type")
        if not isinstance(sid, str) or sid == "":
            raise _malformed("service id is not a string", where)
        types = (stype,) if isinstance(stype, str) else stype
        if not isinstance(types, (list, tuple)) or not types or not all(isinstance(t, str) for t in types):
            raise _malformed("service type is not a string or list of strings", where)
        if "serviceEndpoint" not in entry:
            raise _malformed("service has no serviceEndpoint", where)
        services.append(Service(sid, tuple(types), entry["serviceEndpoint"]))
    if len({s.id for s in services}) != len(services):
        raise _malformed("two services share an id", "service")
    return tuple(services)


# ---------------------------------------------------------------------------------------------------------
# Offline check of a published key against the federation root


def verify_key_certificate(
    document: DidDocument,
    kid: str,
    roots: Iterable[x509.Certificate],
    now: datetime,
    roots_der: frozenset[bytes] | None = None,
) -> x509.Certificate:
    """Check the x5c chain of `kid` up to one of `roots`; returns the signing certificate.

    The chain must be [signing cert, issuing CA]; the CA must be one of `roots` (compared as DER), the signing
    cert must be issued by it, be valid at `now`, name the document's DID as its only DID URI SAN, allow
    digitalSignature, not be a CA, and hold exactly the key the document publishes. `roots_der`, when the caller
    has them, are the DER encodings of `roots`.
    """
    require_aware(now)
    method = document.method(kid)
    trusted = roots_der if roots_der is not None else frozenset(r.public_bytes(Encoding.DER) for r in roots)
    # Every check but the validity periods depends only on the document and the roots, both immutable: a chain
    # that passed is not checked again while the document is kept (the edge keeps it for seconds), only its times.
    memo = (method.id, trusted)
    known = document._certified.get(memo)
    if known is not None and known[1] <= now <= known[2]:
        return known[0]
    if len(method.chain) != 2:
        raise ConnectorError("did.key_certificate", f"key {kid!r} has no [signing cert, CA cert] x5c chain", kid)
    leaf, ca = method.chain
    if ca.public_bytes(Encoding.DER) not in trusted:
        raise ConnectorError("did.key_certificate", f"x5c of {kid!r} does not end at a trusted federation CA", kid)
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise ConnectorError(
            "did.key_certificate", f"signing certificate of {kid!r} is not issued by its CA", kid
        ) from None
    if not (leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc):
        raise ConnectorError("did.key_certificate", f"signing certificate of {kid!r} is not valid now", kid)
    if not (ca.not_valid_before_utc <= now <= ca.not_valid_after_utc):
        raise ConnectorError("did.key_certificate", f"CA certificate of {kid!r} is not valid now", kid)
    try:
        if did_from_certificate(leaf) != document.id:
            raise ConnectorError("did.key_certificate", f"signing certificate of {kid!r} names another DID", kid)
    except ConnectorError as exc:
        if exc.code == "did.key_certificate":
            raise
        raise ConnectorError("did.key_certificate", exc.reason, kid) from None
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.digital_signature:
            raise ConnectorError(
                "did.key_certificate", f"signing certificate of {kid!r} does not allow signatures", kid
            )
    except x509.ExtensionNotFound:
        raise ConnectorError("did.key_certificate", f"signing certificate of {kid!r} has no keyUsage", kid) from None
    try:
        if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise ConnectorError("did.key_certificate", f"signing certificate of {kid!r} is a CA certificate", kid)
    except x509.ExtensionNotFound:
        pass
    published = _public_key(method, kid)
    if not _holds(leaf, published):
        raise ConnectorError(
            "did.key_certificate", f"signing certificate of {kid!r} holds another key than the document", kid
        )
    if len(document._certified) >= _MAX_CERTIFIED:  # bounded even if the roots keep changing
        document._certified.clear()
    document._certified[memo] = (
        leaf,
        max(leaf.not_valid_before_utc, ca.not_valid_before_utc),
        min(leaf.not_valid_after_utc, ca.not_valid_after_utc),
    )
    return leaf
