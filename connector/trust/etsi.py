"""Trusted lists in the form of ETSI TS 119 612 (v2.x): XML, enveloped XAdES signature, services with histories.

The same structure serves three purposes here:

- a federation's own list, as ``connector pki trust-list --format etsi`` writes it: a scheme (the federation),
  one trust service provider (its authority) and its services - the root CA (``Svctype/CA/PKC``), the credential
  issuer (``Svctype/EAA``, an issuer of attestations of attributes) and the time-stamp authority
  (``Svctype/TSA``) - each with its current status and its ``ServiceHistory``;
- a member state's trusted list of the EU (``TSLType/EUgeneric``), read as published;
- the EU list of trusted lists (LOTL, ``TSLType/EUlistofthelists``), whose ``PointersToOtherTSL`` name where each
  member state's list lives and which certificates may sign it (`member_list_pointer`).

What ETSI has no element for - a credential issuer's DID, its keys as JWKs, the credential types it may issue,
where its status lists live, the federation's id - is carried in extensions of this project's namespace
(`EXT_NS`): the keys as ``DigitalId/Other/JsonWebKey``, the rest in a critical ``ServiceInformationExtensions``
extension (a reader that does not know it must not use the service) and the federation id in a non-critical
``SchemeExtensions`` one.

Verification (`verify_etsi_list`) parses without entity expansion or network access (a list declaring a document
type, and so entities, is refused: no trusted list has one), checks that the enveloped
signature's certificate is one of the given anchors byte for byte, verifies the XAdES signature with signxml
(signature value, every reference digest, the signed properties and the signing certificate's digest), and reads
only the signed content signxml returns, never the document as received. A service carrying a critical extension
this reader does not know is left out. Refusals use the trust list codes of `connector.trust.trust_list`, plus
``trust_list.closed`` (a list without a next update: the scheme has ended).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, methods
from signxml.exceptions import InvalidInput, SignXMLException
from signxml.xades import XAdESSignatureConfiguration, XAdESSigner, XAdESVerifier

from connector.errors import ConnectorError
from connector.keys import PrivateKey, cert_sha256, verifying_key_from_jwk
from connector.trust.did import parse_did, split_did_url
from connector.trust.services import (
    KIND_CA,
    KIND_TSA,
    ServiceHistory,
    StatusChange,
    TrustService,
)
from connector.trust.times import format_datetime, parse_datetime, require_aware
from connector.trust.trust_list import TrustedIssuer, TrustList, check_prefix

TSL_NS = "http://uri.etsi.org/02231/v2#"
ADDITIONAL_NS = "http://uri.etsi.org/02231/v2/additionaltypes#"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXT_NS = "urn:connector:trusted-list:1"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
TSL_TAG = "http://uri.etsi.org/19612/TSLTag"
TSL_VERSION = 5
TSL_TYPES = "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/"
EU_GENERIC = TSL_TYPES + "EUgeneric"
EU_LOTL = TSL_TYPES + "EUlistofthelists"
FEDERATION_LIST = EXT_NS + ":TSLType/federation"  # a data space federation's list of accredited services
STATUS_DETERMINATION = EXT_NS + ":StatusDetn/accreditedByFederation"
EU_STATUS_DETERMINATION = "http://uri.etsi.org/TrstSvc/TrustedList/StatusDetn/EUappropriate"
EU_COMMUNITY_RULES = "http://uri.etsi.org/TrstSvc/TrustedList/schemerules/EUcommon"
TSL_MIME_TYPE = "application/vnd.etsi.tsl+xml"
HISTORICAL_INFORMATION_PERIOD = 65535  # the EU's value: history is never dropped
MAX_ETSI_LIST_LENGTH = 16 * 1024 * 1024  # member state lists run to several megabytes
# A list is valid from its issue time, less this much clock difference between its signer and its readers.
ISSUE_SKEW = timedelta(minutes=5)
# ETSI extensions a reader may meet marked critical; none changes what this node takes from a service.
_KNOWN_CRITICAL = frozenset(
    {
        "Qualifications",
        "TakenOverBy",
        "AdditionalServiceInformation",
        "ExpiredCertsRevocationInfo",
    }
)
_NS = {"t": TSL_NS, "ds": DS_NS, "x": EXT_NS, "a": ADDITIONAL_NS}


def _t(name: str) -> str:
    return f"{{{TSL_NS}}}{name}"


def _x(name: str) -> str:
    return f"{{{EXT_NS}}}{name}"


# ---------------------------------------------------------------------------------------------------------
# Writing


@dataclass(frozen=True)
class PostalAddress:
    street: str
    locality: str
    country: str  # ISO 3166-1 alpha-2
    postal_code: str | None = None


@dataclass(frozen=True)
class Pointer:
    """An OtherTSLPointer: where another list lives, who may sign it, and what it is."""

    location: str
    signers: tuple[x509.Certificate, ...]
    tsl_type: str
    territory: str
    operator: str
    mime_type: str = TSL_MIME_TYPE


@dataclass(frozen=True)
class Scheme:
    """What a list says about itself."""

    operator: str  # scheme operator name (English)
    name: str  # scheme name
    information_uri: str
    tsl_type: str = FEDERATION_LIST
    status_determination: str = STATUS_DETERMINATION
    community_rules: str | None = None
    territory: str | None = None
    federation_id: str | None = None  # written as a scheme extension
    address: PostalAddress | None = None
    distribution_point: str | None = None
    pointers: tuple[Pointer, ...] = ()


@dataclass(frozen=True)
class Provider:
    """A trust service provider and its services."""

    name: str
    information_uri: str
    services: tuple[TrustService, ...]
    trade_name: str | None = None
    address: PostalAddress | None = None


def _sub(parent: Any, name: str, text: str | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, _t(name), **attrs)
    if text is not None:
        element.text = text
    return element


def _names(parent: Any, name: str, value: str) -> None:
    holder = _sub(parent, name)
    _sub(holder, "Name", value).set(XML_LANG, "en")


def _uris(parent: Any, name: str, value: str) -> None:
    holder = _sub(parent, name)
    _sub(holder, "URI", value).set(XML_LANG, "en")


def _address(parent: Any, name: str, address: PostalAddress | None, uri: str) -> None:
    holder = _sub(parent, name)
    if address is not None:
        postal = _sub(_sub(holder, "PostalAddresses"), "PostalAddress")
        postal.set(XML_LANG, "en")
        _sub(postal, "StreetAddress", address.street)
        _sub(postal, "Locality", address.locality)
        if address.postal_code:
            _sub(postal, "PostalCode", address.postal_code)
        _sub(postal, "CountryName", address.country)
    electronic = _sub(holder, "ElectronicAddress")
    _sub(electronic, "URI", uri).set(XML_LANG, "en")


def _b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii")


def _identity(parent: Any, service: TrustService, issuer: TrustedIssuer | None) -> None:
    identity = _sub(parent, "ServiceDigitalIdentity")
    for cert in service.certificates:
        _sub(_sub(identity, "DigitalId"), "X509Certificate", _b64(cert))
    if issuer is not None:
        for kid, jwk in sorted(issuer.keys.items()):
            other = _sub(_sub(identity, "DigitalId"), "Other")
            key = etree.SubElement(other, _x("JsonWebKey"), kid=kid)
            key.text = json.dumps(dict(jwk), sort_keys=True, separators=(",", ":"))
    if len(identity) == 0:
        raise ConnectorError("trust_list.invalid", f"service {service.name!r} has no digital identity")


def _issuer_extension(parent: Any, issuer: TrustedIssuer) -> None:
    extensions = _sub(parent, "ServiceInformationExtensions")
    extension = _sub(extensions, "Extension", Critical="true")
    described = etree.SubElement(extension, _x("CredentialIssuer"), did=issuer.did, name=issuer.name)
    for credential_type in sorted(issuer.credential_types):
        etree.SubElement(described, _x("CredentialType")).text = credential_type
    for prefix in issuer.status_list_prefixes:
        etree.SubElement(described, _x("StatusListPrefix")).text = prefix


def _service(parent: Any, service: TrustService, issuer: TrustedIssuer | None) -> None:
    if not service.history.changes:
        raise ConnectorError("trust_list.invalid", f"service {service.name!r} has no status")
    node = _sub(parent, "TSPService")
    info = _sub(node, "ServiceInformation")
    current = service.history.changes[-1]
    _sub(info, "ServiceTypeIdentifier", service.type)
    _names(info, "ServiceName", service.name)
    _identity(info, service, issuer)
    _sub(info, "ServiceStatus", current.status)
    _sub(info, "StatusStartingTime", format_datetime(current.since))
    if issuer is not None:
        _issuer_extension(info, issuer)
    earlier = service.history.changes[:-1]
    if earlier:
        history = _sub(node, "ServiceHistory")
        for change in reversed(earlier):  # newest first, as trusted lists write them
            instance = _sub(history, "ServiceHistoryInstance")
            _sub(instance, "ServiceTypeIdentifier", service.type)
            _names(instance, "ServiceName", service.name)
            _identity(instance, service, issuer)
            _sub(instance, "ServiceStatus", change.status)
            _sub(instance, "StatusStartingTime", format_datetime(change.since))


def build_etsi_list(
    scheme: Scheme,
    sequence: int,
    issued: datetime,
    next_update: datetime,
    providers: Sequence[Provider] = (),
    issuers: Iterable[TrustedIssuer] = (),
) -> Any:
    """The unsigned list as an lxml element, in the element order of the ETSI schema. `issuers` describe the
    credential issuer services (by DID) of `providers`."""
    require_aware(issued, "issued")
    require_aware(next_update, "next_update")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise ConnectorError("trust_list.invalid", "an ETSI trusted list's sequence number is a positive integer")
    if not issued < next_update:
        raise ConnectorError("trust_list.invalid", "the next update must follow the issue time")
    by_did = {i.did: i for i in issuers}
    root = etree.Element(
        _t("TrustServiceStatusList"),
        nsmap={None: TSL_NS, "x": EXT_NS, "ns3": ADDITIONAL_NS},
        Id="TrustServiceStatusList",
        TSLTag=TSL_TAG,
    )
    info = _sub(root, "SchemeInformation")
    _sub(info, "TSLVersionIdentifier", str(TSL_VERSION))
    _sub(info, "TSLSequenceNumber", str(sequence))
    _sub(info, "TSLType", scheme.tsl_type)
    _names(info, "SchemeOperatorName", scheme.operator)
    _address(info, "SchemeOperatorAddress", scheme.address, scheme.information_uri)
    _names(info, "SchemeName", scheme.name)
    _uris(info, "SchemeInformationURI", scheme.information_uri)
    _sub(info, "StatusDeterminationApproach", scheme.status_determination)
    if scheme.community_rules:
        _uris(info, "SchemeTypeCommunityRules", scheme.community_rules)
    if scheme.territory:
        _sub(info, "SchemeTerritory", scheme.territory)
    _sub(info, "HistoricalInformationPeriod", str(HISTORICAL_INFORMATION_PERIOD))
    if scheme.pointers:
        pointers = _sub(info, "PointersToOtherTSL")
        for pointer in scheme.pointers:
            node = _sub(pointers, "OtherTSLPointer")
            identities = _sub(node, "ServiceDigitalIdentities")
            for cert in pointer.signers:
                _sub(_sub(_sub(identities, "ServiceDigitalIdentity"), "DigitalId"), "X509Certificate", _b64(cert))
            _sub(node, "TSLLocation", pointer.location)
            additional = _sub(node, "AdditionalInformation")
            _sub(_sub(additional, "OtherInformation"), "TSLType", pointer.tsl_type)
            _names(_sub(additional, "OtherInformation"), "SchemeOperatorName", pointer.operator)
            _sub(_sub(additional, "OtherInformation"), "SchemeTerritory", pointer.territory)
            mime = etree.SubElement(_sub(additional, "OtherInformation"), f"{{{ADDITIONAL_NS}}}MimeType")
            mime.text = pointer.mime_type
    _sub(info, "ListIssueDateTime", format_datetime(issued))
    _sub(_sub(info, "NextUpdate"), "dateTime", format_datetime(next_update))
    if scheme.distribution_point:
        _uris(info, "DistributionPoints", scheme.distribution_point)
        info[-1][0].attrib.pop(XML_LANG)  # DistributionPoints is a plain URI list
    if scheme.federation_id:
        extension = _sub(_sub(info, "SchemeExtensions"), "Extension", Critical="false")
        etree.SubElement(extension, _x("FederationId")).text = scheme.federation_id
    if providers:
        provider_list = _sub(root, "TrustServiceProviderList")
        for provider in providers:
            node = _sub(provider_list, "TrustServiceProvider")
            tsp = _sub(node, "TSPInformation")
            _names(tsp, "TSPName", provider.name)
            if provider.trade_name:
                _names(tsp, "TSPTradeName", provider.trade_name)
            _address(tsp, "TSPAddress", provider.address, provider.information_uri)
            _uris(tsp, "TSPInformationURI", provider.information_uri)
            services = _sub(node, "TSPServices")
            for service in provider.services:
                issuer = by_did.get(service.issuer_did) if service.issuer_did else None
                if service.issuer_did and issuer is None:
                    raise ConnectorError("trust_list.invalid", f"no issuer description for {service.issuer_did}")
                _service(services, service, issuer)
    etree.indent(root, space=" ")  # a list is read by people too
    return root


def sign_etsi_list(root: Any, key: PrivateKey, cert: x509.Certificate) -> str:
    """The list with an enveloped XAdES signature by `key`, whose certificate it carries; UTF-8 XML text."""
    signer = XAdESSigner(
        method=methods.enveloped,
        signature_algorithm=SignatureMethod.ECDSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        # Canonical XML 1.0: the XML Signature default for references without transforms (the signed
        # properties), so that any conforming verifier computes the same digests.
        c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    try:
        signed = signer.sign(root, key=key, cert=[cert], reference_uri="#" + root.get("Id"))
    except (SignXMLException, ValueError, TypeError) as exc:
        raise ConnectorError("trust_list.invalid", f"the list could not be signed: {exc}") from None
    text: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    return text.decode("utf-8")


# ---------------------------------------------------------------------------------------------------------
# Reading


def _bad(why: str, where: str | None = None) -> ConnectorError:
    return ConnectorError("trust_list.malformed", f"trusted list is malformed: {why}", where)


def looks_like_xml(text: str) -> bool:
    return text.lstrip("\ufeff \t\r\n").startswith("<")


def _parse(text: str | bytes) -> Any:
    data = text.encode("utf-8") if isinstance(text, str) else text
    if len(data) > MAX_ETSI_LIST_LENGTH:
        raise _bad(f"larger than {MAX_ETSI_LIST_LENGTH} bytes")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(data.lstrip(b"\xef\xbb\xbf \t\r\n"), parser=parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise _bad(f"not XML ({str(exc)[:200]})") from None
    if root.getroottree().docinfo.doctype:  # entities it declares would be left unexpanded, and then fail later
        raise _bad("it carries a document type declaration (<!DOCTYPE>), which no trusted list has")
    if root.tag != _t("TrustServiceStatusList"):
        raise _bad("the root element is not an ETSI TS 119 612 TrustServiceStatusList", "TrustServiceStatusList")
    return root


def _text(node: Any, path: str, where: str, required: bool = True) -> str | None:
    found = node.find(path, _NS)
    value = (found.text or "").strip() if found is not None else ""
    if not value:
        if required:
            raise _bad(f"{where} is missing", where)
        return None
    return value


def _name(node: Any, path: str, where: str) -> str:
    """The English name of a multilingual name list, or its first."""
    names = node.findall(path + "/t:Name", _NS)
    for name in names:
        if name.get(XML_LANG) == "en" and (name.text or "").strip():
            return str(name.text).strip()
    for name in names:
        if (name.text or "").strip():
            return str(name.text).strip()
    raise _bad(f"{where} has no name", where)


def _time(node: Any, path: str, where: str) -> datetime:
    return parse_datetime(_text(node, path, where), "trust_list.malformed", where)


def _certificate(text: str | None, where: str) -> x509.Certificate:
    try:
        der = base64.b64decode("".join((text or "").split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise _bad(f"{where} is not a certificate", where) from None


def _certificates(identity: Any, where: str) -> tuple[x509.Certificate, ...]:
    return tuple(
        _certificate(c.text, f"{where}.X509Certificate") for c in identity.findall("t:DigitalId/t:X509Certificate", _NS)
    )


@dataclass(frozen=True)
class _Read:
    """A list as read from its signed content, before the time checks."""

    tsl_type: str
    sequence: int
    operator: str
    territory: str | None
    federation_id: str
    issued: datetime
    next_update: datetime | None
    services: tuple[TrustService, ...]
    issuers: tuple[TrustedIssuer, ...]
    pointers: tuple[Pointer, ...]
    signer: x509.Certificate
    digest: str
    federation: str | None = None  # the federation id this project's extension states
    distribution_point: str | None = None
    skipped: tuple[str, ...] = field(default=())


def _unknown_critical(info: Any) -> str | None:
    for extension in info.findall("t:ServiceInformationExtensions/t:Extension", _NS):
        if extension.get("Critical") not in ("true", "1"):
            continue
        for child in extension:
            if not isinstance(child.tag, str):
                continue
            local = etree.QName(child).localname
            namespace = etree.QName(child).namespace
            if namespace == EXT_NS and local == "CredentialIssuer":
                continue
            if local in _KNOWN_CRITICAL:
                continue
            return f"{{{namespace}}}{local}"
    return None


def _issuer_of(info: Any, where: str) -> TrustedIssuer | None:
    described = info.find("t:ServiceInformationExtensions/t:Extension/x:CredentialIssuer", _NS)
    if described is None:
        return None
    did = described.get("did") or ""
    try:
        parse_did(did)
    except ConnectorError:
        raise _bad(f"{where}: the credential issuer's did is not a did:web DID", where) from None
    keys: dict[str, Mapping[str, Any]] = {}
    for node in info.findall("t:ServiceDigitalIdentity/t:DigitalId/t:Other/x:JsonWebKey", _NS):
        kid = node.get("kid") or ""
        try:
            jwk = json.loads(node.text or "")
            if not isinstance(jwk, dict) or "d" in jwk or split_did_url(kid)[0] != did:
                raise ValueError
            verifying_key_from_jwk(jwk)
        except (ValueError, ConnectorError, RecursionError):  # RecursionError: nested past the parser's bound
            raise _bad(f"{where}: a JsonWebKey is not a public key of {did} with a DID URL kid", where) from None
        if kid in keys:
            raise _bad(f"{where}: key {kid} is listed twice", where)
        keys[kid] = MappingProxyType({**jwk, "kid": kid})
    if not keys:
        raise _bad(f"{where}: the credential issuer has no key", where)
    types = frozenset((t.text or "").strip() for t in described.findall("x:CredentialType", _NS))
    if "" in types:
        raise _bad(f"{where}: an empty credential type", where)
    prefixes = tuple(
        check_prefix((p.text or "").strip(), "trust_list.malformed")
        for p in described.findall("x:StatusListPrefix", _NS)
    )
    return TrustedIssuer(did, described.get("name") or did, MappingProxyType(keys), types, prefixes)


def _history(service: Any, where: str) -> ServiceHistory:
    info = service.find("t:ServiceInformation", _NS)
    changes = [
        StatusChange(
            _text(info, "t:ServiceStatus", f"{where}.ServiceStatus") or "",
            _time(info, "t:StatusStartingTime", f"{where}.StatusStartingTime"),
        )
    ]
    for index, instance in enumerate(service.findall("t:ServiceHistory/t:ServiceHistoryInstance", _NS)):
        here = f"{where}.ServiceHistory[{index}]"
        changes.append(
            StatusChange(
                _text(instance, "t:ServiceStatus", f"{here}.ServiceStatus") or "",
                _time(instance, "t:StatusStartingTime", f"{here}.StatusStartingTime"),
            )
        )
    history = ServiceHistory.of(changes)
    if history.current != changes[0]:
        raise _bad(f"{where}: a history entry starts after the current status", where)
    return history


def _services(root: Any) -> tuple[tuple[TrustService, ...], tuple[TrustedIssuer, ...], tuple[str, ...]]:
    services: list[TrustService] = []
    issuers: dict[str, TrustedIssuer] = {}
    skipped: list[str] = []
    for p, provider in enumerate(root.findall("t:TrustServiceProviderList/t:TrustServiceProvider", _NS)):
        provider_name = _name(provider, "t:TSPInformation/t:TSPName", f"TrustServiceProvider[{p}].TSPName")
        for s, node in enumerate(provider.findall("t:TSPServices/t:TSPService", _NS)):
            where = f"TrustServiceProvider[{p}].TSPService[{s}]"
            info = node.find("t:ServiceInformation", _NS)
            if info is None:
                raise _bad(f"{where} has no ServiceInformation", where)
            service_type = _text(info, "t:ServiceTypeIdentifier", f"{where}.ServiceTypeIdentifier") or ""
            name = _name(info, "t:ServiceName", f"{where}.ServiceName")
            unknown = _unknown_critical(info)
            if unknown is not None:
                skipped.append(f"{name}: critical extension {unknown} is not understood")
                continue
            identity = info.find("t:ServiceDigitalIdentity", _NS)
            if identity is None:
                raise _bad(f"{where} has no ServiceDigitalIdentity", where)
            certificates = _certificates(identity, f"{where}.ServiceDigitalIdentity")
            issuer = _issuer_of(info, where)
            if issuer is not None:
                if issuer.did in issuers:
                    raise _bad(f"{where}: the credential issuer {issuer.did} is listed twice", where)
                issuers[issuer.did] = issuer
            history = _history(node, where)
            services.append(
                TrustService(
                    service_type,
                    name,
                    provider_name,
                    certificates,
                    history,
                    issuer.did if issuer is not None else None,
                )
            )
    # The issuer's status history travels with its description, where the credential checks look for it.
    described = tuple(
        _with_history(i, next(s.history for s in services if s.issuer_did == i.did)) for i in issuers.values()
    )
    return tuple(services), described, tuple(skipped)


def _with_history(issuer: TrustedIssuer, history: ServiceHistory) -> TrustedIssuer:
    return TrustedIssuer(
        issuer.did, issuer.name, issuer.keys, issuer.credential_types, issuer.status_list_prefixes, history
    )


def _pointers(info: Any) -> tuple[Pointer, ...]:
    found = []
    for index, node in enumerate(info.findall("t:PointersToOtherTSL/t:OtherTSLPointer", _NS)):
        where = f"PointersToOtherTSL[{index}]"
        signers: list[x509.Certificate] = []
        for identity in node.findall("t:ServiceDigitalIdentities/t:ServiceDigitalIdentity", _NS):
            signers.extend(_certificates(identity, where))
        other: dict[str, str] = {}
        for item in node.findall("t:AdditionalInformation/t:OtherInformation", _NS):
            for child in item:
                if not isinstance(child.tag, str):
                    continue
                local = etree.QName(child).localname
                if local == "SchemeOperatorName":
                    other[local] = _name(item, "t:SchemeOperatorName", where)
                else:
                    other[local] = (child.text or "").strip()
        found.append(
            Pointer(
                _text(node, "t:TSLLocation", f"{where}.TSLLocation") or "",
                tuple(signers),
                other.get("TSLType", ""),
                other.get("SchemeTerritory", ""),
                other.get("SchemeOperatorName", ""),
                other.get("MimeType", ""),
            )
        )
    return tuple(found)


def signer_certificate(text: str | bytes) -> x509.Certificate:
    """The certificate a list's signature names (unverified: the caller decides whether to trust it)."""
    signatures = _parse(text).findall("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS)
    if not signatures:
        raise ConnectorError("trust_list.unsigned", "the trusted list carries no signature with a certificate")
    return _certificate(signatures[0].text, "Signature.KeyInfo")


def _signed_content(root: Any, anchors: Sequence[x509.Certificate]) -> tuple[Any, x509.Certificate]:
    """Verify the enveloped XAdES signature under one of `anchors`; the signed list and the signer."""
    signatures = root.findall("ds:Signature", _NS)
    if not signatures:
        raise ConnectorError("trust_list.unsigned", "the trusted list carries no enveloped signature")
    if len(signatures) != 1:
        raise ConnectorError("trust_list.malformed", "the trusted list carries more than one signature")
    carried = signatures[0].findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS)
    if not carried:
        raise ConnectorError("trust_list.anchor", "the trusted list's signature names no certificate")
    signer_cert = _certificate(carried[0].text, "Signature.KeyInfo")
    by_der = {a.public_bytes(Encoding.DER): a for a in anchors}
    anchor = by_der.get(signer_cert.public_bytes(Encoding.DER))
    if anchor is None:
        raise ConnectorError(
            "trust_list.anchor", "the trusted list is not signed with a certificate pinned for it", "Signature"
        )
    config = XAdESSignatureConfiguration(
        expect_references=True,  # the document, the signed properties and, as some signers add, the key info
        default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    try:
        results = XAdESVerifier().verify(root, x509_cert=anchor, expect_config=config)
    except InvalidInput as exc:
        raise ConnectorError("trust_list.malformed", f"the trusted list's signature is malformed: {exc}") from None
    except (SignXMLException, ValueError, TypeError) as exc:
        raise ConnectorError("trust_list.signature", f"the trusted list's signature does not verify: {exc}") from None
    documents = [r.signed_xml for r in results if r.signed_xml is not None and r.signed_xml.tag == root.tag]
    if len(documents) != 1:
        raise ConnectorError("trust_list.signature", "the signature does not cover the trusted list itself")
    return documents[0], anchor


def read_etsi_list(text: str | bytes, anchors: Sequence[x509.Certificate]) -> _Read:
    """Parse and verify the signature; no time check (see `verify_etsi_list`)."""
    signed, signer = _signed_content(_parse(text), anchors)
    info = signed.find("t:SchemeInformation", _NS)
    if info is None:
        raise _bad("SchemeInformation is missing", "SchemeInformation")
    version = _text(info, "t:TSLVersionIdentifier", "TSLVersionIdentifier")
    if version not in ("5", "6"):
        raise _bad(f"TSL version {version} is not one of ETSI TS 119 612 v2 (5 or 6)", "TSLVersionIdentifier")
    raw_sequence = _text(info, "t:TSLSequenceNumber", "TSLSequenceNumber") or ""
    if not raw_sequence.isdigit() or int(raw_sequence) < 1:
        raise _bad("TSLSequenceNumber is not a positive integer", "TSLSequenceNumber")
    tsl_type = _text(info, "t:TSLType", "TSLType") or ""
    territory = _text(info, "t:SchemeTerritory", "SchemeTerritory", required=False)
    next_update = (
        _time(info, "t:NextUpdate/t:dateTime", "NextUpdate")
        if info.find("t:NextUpdate/t:dateTime", _NS) is not None
        else None
    )
    federation = _text(info, "t:SchemeExtensions/t:Extension/x:FederationId", "FederationId", required=False)
    distribution = _text(info, "t:DistributionPoints/t:URI", "DistributionPoints", required=False)
    services, issuers, skipped = _services(signed)
    canonical = etree.tostring(signed, method="c14n", exclusive=True)
    return _Read(
        tsl_type=tsl_type,
        sequence=int(raw_sequence),
        operator=_name(info, "t:SchemeOperatorName", "SchemeOperatorName"),
        territory=territory,
        federation_id=federation or distribution or f"{tsl_type}#{territory or 'unknown'}",
        issued=_time(info, "t:ListIssueDateTime", "ListIssueDateTime"),
        next_update=next_update,
        services=services,
        issuers=issuers,
        pointers=_pointers(info),
        signer=signer,
        digest=hashlib.sha256(canonical).hexdigest(),
        federation=federation,
        distribution_point=distribution,
        skipped=skipped,
    )


def _check_time(read: _Read, now: datetime) -> datetime:
    """The list's end of validity, if it is valid at `now`."""
    if read.next_update is None:
        raise ConnectorError(
            "trust_list.closed", f"the trusted list of {read.operator} has no next update: its scheme has ended"
        )
    if now < read.issued - ISSUE_SKEW:
        raise ConnectorError(
            "trust_list.not_yet_valid",
            f"the trusted list of {read.operator} is not valid before {format_datetime(read.issued)}",
        )
    if now >= read.next_update:
        raise ConnectorError(
            "trust_list.expired",
            f"the trusted list of {read.operator} expired at {format_datetime(read.next_update)} (its next update)",
        )
    return read.next_update


def _to_trust_list(read: _Read, valid_until: datetime, federation_id: str | None = None) -> TrustList:
    def approved_now(kind: str) -> tuple[x509.Certificate, ...]:
        return tuple(c for s in read.services if s.kind == kind and s.history.approved_now for c in s.certificates)

    return TrustList(
        federation_id=federation_id or read.federation_id,
        federation_name=read.operator,
        sequence=read.sequence,
        issued=read.issued,
        valid_from=read.issued - ISSUE_SKEW,
        valid_until=valid_until,
        ca_certificates=approved_now(KIND_CA),
        issuers=read.issuers,
        tsa_certificates=approved_now(KIND_TSA),
        document=MappingProxyType(
            {
                "format": "etsi",
                "tslType": read.tsl_type,
                "territory": read.territory,
                "skippedServices": list(read.skipped),
            }
        ),
        sha256=read.digest,
        services=read.services,
        format="etsi",
        signer_sha256=cert_sha256(read.signer),
    )


def verify_etsi_list(text: str | bytes, anchor: x509.Certificate, now: datetime) -> TrustList:
    """A federation's (or a member state's) trusted list, signed under the pinned `anchor`, valid at `now`."""
    require_aware(now)
    read = read_etsi_list(text, [anchor])
    if read.tsl_type == EU_LOTL:
        raise ConnectorError(
            "trust_list.lotl",
            "this is a list of trusted lists: configure the territory whose list to use (trust.lists territory)",
        )
    return _to_trust_list(read, _check_time(read, now))


def member_list_pointer(lotl: _Read, territory: str) -> Pointer:
    """The LOTL's pointer to the XML trusted list of `territory`."""
    for pointer in lotl.pointers:
        xml = pointer.mime_type == TSL_MIME_TYPE or (not pointer.mime_type and pointer.location.endswith(".xml"))
        if pointer.territory == territory and pointer.tsl_type != EU_LOTL and xml:
            return pointer
    raise ConnectorError(
        "trust_list.territory_unknown", f"the list of trusted lists points to no XML trusted list of {territory}"
    )


def verify_member_list(
    lotl_text: str | bytes, lotl_anchor: x509.Certificate, territory: str, member_text: str | bytes, now: datetime
) -> TrustList:
    """A member state's trusted list through the EU list of trusted lists: the LOTL verified under its pinned
    signing certificate, the member state's list under a certificate the LOTL's pointer names. Valid while both
    are; the federation is named by the pointer's location."""
    require_aware(now)
    lotl = read_etsi_list(lotl_text, [lotl_anchor])
    if lotl.tsl_type != EU_LOTL and not lotl.tsl_type.endswith("listofthelists"):
        raise ConnectorError("trust_list.lotl", "the pinned list is not a list of trusted lists")
    lotl_until = _check_time(lotl, now)
    pointer = member_list_pointer(lotl, territory)
    if not pointer.signers:
        raise ConnectorError("trust_list.anchor", f"the pointer to the list of {territory} names no signer")
    member = read_etsi_list(member_text, pointer.signers)
    if member.territory not in (None, territory):
        raise ConnectorError(
            "trust_list.territory_mismatch", f"the list signed for {territory} is the list of {member.territory}"
        )
    until = min(lotl_until, _check_time(member, now))
    return _to_trust_list(member, until, member.federation or member.distribution_point or pointer.location)


def lotl_pointer(lotl_text: str | bytes, lotl_anchor: x509.Certificate, territory: str, now: datetime) -> Pointer:
    """Where the LOTL, verified and valid now, says the trusted list of `territory` lives (to fetch it)."""
    require_aware(now)
    lotl = read_etsi_list(lotl_text, [lotl_anchor])
    _check_time(lotl, now)
    return member_list_pointer(lotl, territory)


def member_pair(lotl_text: str, member_text: str) -> str:
    """A member state's list with the LOTL it is read through, as one text to keep (a small JSON object)."""
    return json.dumps({"lotl": lotl_text, "memberList": member_text})


def verify_member_pair(text: str, lotl_anchor: x509.Certificate, territory: str, now: datetime) -> TrustList:
    """`verify_member_list` on a text `member_pair` made."""
    try:
        pair = json.loads(text)
        lotl, member = pair["lotl"], pair["memberList"]
        if not isinstance(lotl, str) or not isinstance(member, str):
            raise TypeError
    except (ValueError, TypeError, KeyError):
        raise _bad("not a list of trusted lists with a member state's list") from None
    return verify_member_list(lotl, lotl_anchor, territory, member, now)
