"""Verifiable credentials as JWTs, in both DCP credential profiles (dcp.profiles.md).

- ``vc20-bssl/jwt``: VC Data Model 2.0 secured with JOSE (``application/vc+jwt``): the JWT payload is the
  credential itself (``@context``, ``id``, ``type``, ``issuer``, ``validFrom``, ``validUntil``,
  ``credentialSubject``, ``credentialStatus``), with ``iss``/``sub``/``jti``/``iat``/``exp`` mirroring it when
  present; header ``typ`` ``vc+jwt`` (or none, as EDC writes it). Status: ``BitstringStatusListEntry``.
  This is what this node's authorities issue (`issue_credential`).
- ``vc11-sl2021/jwt``: VC Data Model 1.1 as a JWT (section 6.3.1 of that model): the credential is the ``vc``
  claim, and the registered claims stand for its properties - ``iss`` the issuer, ``sub`` the subject id,
  ``jti`` the id, ``nbf`` the issuance date, ``exp`` the expiration date - taking precedence over the same
  properties inside ``vc``; header ``typ`` ``JWT`` or none. Status: ``StatusList2021Entry``
  (`issue_vc11_credential` writes one, for holders and tests).

A status entry of either kind is read in either data model (EDC's verifier picks the revocation check by the
entry's type alone). `read_envelope` gives both the same shape, `Envelope`, with its `profile`.

Two credential types are issued and understood:
- ``MembershipCredential``: credentialSubject ``id``, ``memberOf`` (data space id), ``memberSince`` (date);
- ``OrganizationCredential``: credentialSubject ``id``, ``legalName``, ``countryOfEstablishment`` (ISO 3166-1
  alpha-2, an officially assigned code), and, when the issuer checked the organisation against a base registry,
  ``legalAddress`` and ``registration`` (`connector.trust.registries`).

Verification (``credential.*`` codes): ``malformed``, ``unsigned``, ``algorithm``, ``embedded_key``,
``media_type`` (a typ that says it is something else), ``issuer_untrusted`` (issuer on no trust list),
``type_not_allowed`` (issuer not trusted for one of the credential's types), ``issuer_not_accredited`` (the
issuer's service was not in an approved status when the credential was issued - its validFrom - on a trust list
that carries status history), ``kid_unknown`` (signing key not on
the trust lists for that issuer), ``key_unsupported``, ``signature``, ``not_yet_valid``, ``expired``,
``subject_mismatch`` (credentialSubject.id is not the holder), ``status_missing``, ``status_unsupported``,
``status_url_not_allowed``.

Choices where the specifications leave room (the stricter one each time):
- The verification key comes from the trust store only - never from the credential, its header, or the
  issuer's DID document - so a credential can name no key of its own choosing. Its algorithm is the one of
  the key's type (`connector.jws`).
- An id, a start of validity and an end of validity are required; in VC 2.0 the JWT claims that mirror
  credential properties (iss, sub, jti) must agree with them when present; in VC 1.1 the issuer and subject
  named both ways must agree (the id and the dates follow the JWT claims, as the data model says).
- Exactly one credentialSubject (an object, or a list holding one object); every type other than
  VerifiableCredential must be allowed for the issuer.
- A credential status is required by default (revocation must be checkable) and must be a single
  ``BitstringStatusListEntry`` (statusSize 1) or ``StatusList2021Entry`` of purpose revocation or suspension,
  whose list URL the trust store allows for that issuer - checked before anything is fetched.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any

from connector.canonical import sha256_hex
from connector.errors import ConnectorError
from connector.keys import PrivateKey
from connector.trust import vocab
from connector.trust.claims import MEMBERSHIP_CREDENTIAL, ORGANIZATION_CREDENTIAL, StatusEntry, VerifiedCredential
from connector.trust.compact import (
    Jwt,
    did_of_kid,
    optional_string,
    optional_time,
    parse_jwt,
    sign_jwt,
    verify_signature,
)
from connector.trust.did import parse_did
from connector.trust.registries import RegistryFacts, read_registry_facts
from connector.trust.times import (
    format_date,
    format_datetime,
    parse_date,
    parse_datetime,
    require_aware,
    to_numeric_date,
)
from connector.trust.trust_list import TrustStore, plain_https_url

DEFAULT_LEEWAY = timedelta(seconds=30)
_INDEX = re.compile(r"^(0|[1-9][0-9]{0,17})$")

# ISO 3166-1 alpha-2, officially assigned codes.
ISO_3166_ALPHA2 = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY
    BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK
    FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR
    IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK
    ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """.split()
)


STATUS_ENTRY_TYPES = (vocab.BITSTRING_STATUS_LIST_ENTRY, vocab.STATUS_LIST_2021_ENTRY)


# ---------------------------------------------------------------------------------------------------------
# Issuance


def issue_credential(
    key: PrivateKey,
    kid: str,
    issuer_did: str,
    credential_type: str,
    subject: Mapping[str, Any],
    valid_from: datetime,
    valid_until: datetime,
    status: StatusEntry | None = None,
    credential_id: str | None = None,
) -> str:
    """A JWT VC of type [VerifiableCredential, `credential_type`] about `subject` (which carries its ``id``)."""
    kid_did, _ = did_of_kid(kid, "credential")
    parse_did(issuer_did)
    if kid_did != issuer_did:
        raise ConnectorError("credential.invalid", "the signing key id is not a key of the issuer", "kid")
    holder = subject.get("id")
    parse_did(holder)
    if not valid_from < valid_until:
        raise ConnectorError("credential.invalid", "validFrom must precede validUntil")
    cid = credential_id or f"urn:uuid:{uuid.uuid4()}"
    claims: dict[str, Any] = {
        "@context": [vocab.VC_CONTEXT],
        "id": cid,
        "type": [vocab.VERIFIABLE_CREDENTIAL, credential_type],
        "issuer": issuer_did,
        "validFrom": format_datetime(valid_from),
        "validUntil": format_datetime(valid_until),
        "credentialSubject": dict(subject),
        "iss": issuer_did,
        "sub": holder,
        "jti": cid,
        "iat": to_numeric_date(valid_from),
        "exp": to_numeric_date(valid_until),
    }
    if status is not None:
        claims["credentialStatus"] = status.to_json()
    _check_subject(credential_type, claims["credentialSubject"], "credential.invalid")
    return sign_jwt(key, claims, {"typ": vocab.VC_JWT_TYP, "kid": kid})


def issue_vc11_credential(
    key: PrivateKey,
    kid: str,
    issuer_did: str,
    credential_type: str,
    subject: Mapping[str, Any],
    valid_from: datetime,
    valid_until: datetime,
    status: StatusEntry | None = None,
    credential_id: str | None = None,
) -> str:
    """A VC Data Model 1.1 JWT (profile vc11-sl2021/jwt) of type [VerifiableCredential, `credential_type`]: the
    credential in the ``vc`` claim, its issuer, subject, id and dates also as iss, sub, jti, nbf and exp."""
    kid_did, _ = did_of_kid(kid, "credential")
    parse_did(issuer_did)
    if kid_did != issuer_did:
        raise ConnectorError("credential.invalid", "the signing key id is not a key of the issuer", "kid")
    holder = subject.get("id")
    parse_did(holder)
    if not valid_from < valid_until:
        raise ConnectorError("credential.invalid", "validFrom must precede validUntil")
    _check_subject(credential_type, subject, "credential.invalid")
    cid = credential_id or f"urn:uuid:{uuid.uuid4()}"
    vc: dict[str, Any] = {
        "@context": [vocab.VC_V1_CONTEXT],
        "id": cid,
        "type": [vocab.VERIFIABLE_CREDENTIAL, credential_type],
        "issuer": issuer_did,
        "issuanceDate": format_datetime(valid_from),
        "expirationDate": format_datetime(valid_until),
        "credentialSubject": dict(subject),
    }
    if status is not None:
        vc["credentialStatus"] = status.to_json()
    claims = {
        "iss": issuer_did,
        "sub": holder,
        "jti": cid,
        "nbf": to_numeric_date(valid_from),
        "iat": to_numeric_date(valid_from),
        "exp": to_numeric_date(valid_until),
        "vc": vc,
    }
    return sign_jwt(key, claims, {"typ": vocab.JWT_TYP, "kid": kid})


def issue_membership_credential(
    key: PrivateKey,
    kid: str,
    issuer_did: str,
    holder_did: str,
    member_of: str,
    member_since: date,
    valid_from: datetime,
    valid_until: datetime,
    status: StatusEntry | None = None,
    credential_id: str | None = None,
) -> str:
    subject = {"id": holder_did, "memberOf": member_of, "memberSince": format_date(member_since)}
    return issue_credential(
        key, kid, issuer_did, MEMBERSHIP_CREDENTIAL, subject, valid_from, valid_until, status, credential_id
    )


def issue_organization_credential(
    key: PrivateKey,
    kid: str,
    issuer_did: str,
    holder_did: str,
    legal_name: str,
    country_of_establishment: str,
    valid_from: datetime,
    valid_until: datetime,
    status: StatusEntry | None = None,
    credential_id: str | None = None,
    registry: RegistryFacts | None = None,
) -> str:
    subject: dict[str, Any] = {
        "id": holder_did,
        "legalName": legal_name,
        "countryOfEstablishment": country_of_establishment,
    }
    if registry is not None:
        subject.update(registry.subject_claims())
    return issue_credential(
        key, kid, issuer_did, ORGANIZATION_CREDENTIAL, subject, valid_from, valid_until, status, credential_id
    )


def _check_subject(credential_type: str, subject: Mapping[str, Any], code: str) -> None:
    """Known credential types must carry well-formed claims."""
    if credential_type == MEMBERSHIP_CREDENTIAL:
        if not isinstance(subject.get("memberOf"), str) or not subject["memberOf"]:
            raise ConnectorError(code, "memberOf must name the data space", "credentialSubject.memberOf")
        parse_date(subject.get("memberSince"), code, "credentialSubject.memberSince")
    elif credential_type == ORGANIZATION_CREDENTIAL:
        name = subject.get("legalName")
        if not isinstance(name, str) or not name.strip():
            raise ConnectorError(code, "legalName must be a non-empty string", "credentialSubject.legalName")
        if subject.get("countryOfEstablishment") not in ISO_3166_ALPHA2:
            raise ConnectorError(
                code,
                "countryOfEstablishment must be an ISO 3166-1 alpha-2 code",
                "credentialSubject.countryOfEstablishment",
            )
        read_registry_facts(subject, code)  # registry facts, when carried, must be well-formed


# ---------------------------------------------------------------------------------------------------------
# Reading the VC Data Model envelope (shared with status list credentials)


@dataclass(frozen=True)
class Envelope:
    """The properties of a JWT-secured credential in either data model, read but not yet trusted."""

    id: str
    types: tuple[str, ...]
    issuer: str
    subject: Mapping[str, Any]
    valid_from: datetime
    valid_until: datetime | None
    expires_at: datetime | None  # JWT exp: the signature's own expiry
    status: Any
    profile: str = vocab.PROFILE_VC20


def read_envelope(jwt: Jwt, what: str) -> Envelope:
    """Read and cross-check the credential properties of a parsed JWT credential of either profile (a ``vc``
    claim makes it VC Data Model 1.1); raises ConnectorError('<what>.*')."""
    if "vp" in jwt.claims:
        raise ConnectorError(f"{what}.malformed", "a presentation (vp claim) is not a credential", "vp")
    if "vc" in jwt.claims:
        return _read_vc11(jwt, what)
    return _read_vc20(jwt, what)


def _types(raw: object, bad: str) -> tuple[str, ...]:
    types = (raw,) if isinstance(raw, str) else raw
    if not isinstance(types, (list, tuple)) or not all(isinstance(t, str) and t for t in types):
        raise ConnectorError(bad, "type must be a string or list of strings", "type")
    if vocab.VERIFIABLE_CREDENTIAL not in types or len(set(types)) != len(types):
        raise ConnectorError(bad, "type must include VerifiableCredential once", "type")
    return tuple(types)


def _issuer(raw: object, bad: str) -> str:
    issuer = raw.get("id") if isinstance(raw, dict) else raw
    if not isinstance(issuer, str):
        raise ConnectorError(bad, "issuer must be a DID", "issuer")
    try:
        parse_did(issuer)
    except ConnectorError:
        raise ConnectorError(bad, "issuer must be a did:web DID", "issuer") from None
    return issuer


def _one_subject(raw: object, bad: str) -> dict[str, Any]:
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]
    if not isinstance(raw, dict):
        raise ConnectorError(bad, "credentialSubject must be one object", "credentialSubject")
    return raw


def _read_vc20(jwt: Jwt, what: str) -> Envelope:
    bad = f"{what}.malformed"
    typ = jwt.header.get("typ")
    if typ is not None and typ not in (vocab.VC_JWT_TYP, "application/" + vocab.VC_JWT_TYP):
        raise ConnectorError(f"{what}.media_type", f"{what} header typ must be {vocab.VC_JWT_TYP!r}", "typ")
    if jwt.header.get("cty", "vc") != "vc":
        raise ConnectorError(f"{what}.media_type", f"{what} header cty must be 'vc' when present", "cty")
    c = jwt.claims
    context = c.get("@context")
    if not isinstance(context, list) or not context or context[0] != vocab.VC_CONTEXT:
        raise ConnectorError(bad, f"@context must start with {vocab.VC_CONTEXT}", "@context")
    types = _types(c.get("type"), bad)
    cid = c.get("id")
    if not isinstance(cid, str) or not cid:
        raise ConnectorError(bad, "credential id is required", "id")
    issuer = _issuer(c.get("issuer"), bad)
    if c.get("iss", issuer) != issuer:
        raise ConnectorError(bad, "JWT iss disagrees with the credential issuer", "iss")
    if c.get("jti", cid) != cid:
        raise ConnectorError(bad, "JWT jti disagrees with the credential id", "jti")
    subject = _one_subject(c.get("credentialSubject"), bad)
    if not isinstance(subject.get("id"), str) or not subject["id"]:
        raise ConnectorError(bad, "credentialSubject must be one object with an id", "credentialSubject")
    if c.get("sub", subject["id"]) != subject["id"]:
        raise ConnectorError(bad, "JWT sub disagrees with credentialSubject.id", "sub")
    valid_from = parse_datetime(c.get("validFrom"), bad, "validFrom")
    valid_until = None if "validUntil" not in c else parse_datetime(c["validUntil"], bad, "validUntil")
    if valid_until is not None and valid_until <= valid_from:
        raise ConnectorError(bad, "validUntil does not follow validFrom", "validUntil")
    return Envelope(
        id=cid,
        types=types,
        issuer=issuer,
        subject=MappingProxyType(dict(subject)),
        valid_from=valid_from,
        valid_until=valid_until,
        expires_at=optional_time(c, "exp", what),
        status=c.get("credentialStatus"),
        profile=vocab.PROFILE_VC20,
    )


def _read_vc11(jwt: Jwt, what: str) -> Envelope:
    bad = f"{what}.malformed"
    typ = jwt.header.get("typ")
    if typ is not None and typ != vocab.JWT_TYP:
        raise ConnectorError(f"{what}.media_type", f"a VC 1.1 JWT {what} has typ 'JWT' or none", "typ")
    c = jwt.claims
    if "@context" in c or "credentialSubject" in c:
        raise ConnectorError(bad, "a vc claim and VC 2.0 credential members cannot be mixed", "vc")
    vc = c["vc"]
    if not isinstance(vc, dict):
        raise ConnectorError(bad, "the vc claim is not an object", "vc")
    context = vc.get("@context")
    if not isinstance(context, list) or not context or context[0] != vocab.VC_V1_CONTEXT:
        raise ConnectorError(bad, f"vc.@context must start with {vocab.VC_V1_CONTEXT}", "vc.@context")
    types = _types(vc.get("type"), bad)
    jti, inner_id = optional_string(c, "jti", what), vc.get("id")
    if inner_id is not None and (not isinstance(inner_id, str) or not inner_id):
        raise ConnectorError(bad, "vc.id is not a non-empty string", "vc.id")
    cid = jti or inner_id
    if cid is None:
        raise ConnectorError(bad, "credential id is required (jti or vc.id)", "jti")
    iss = optional_string(c, "iss", what)
    issuer = _issuer(iss if iss is not None else vc.get("issuer"), bad)
    if "issuer" in vc and _issuer(vc["issuer"], bad) != issuer:
        raise ConnectorError(bad, "JWT iss disagrees with vc.issuer", "iss")
    subject = dict(_one_subject(vc.get("credentialSubject"), bad))
    sub = optional_string(c, "sub", what)
    inner_subject = subject.get("id")
    if inner_subject is not None and (not isinstance(inner_subject, str) or (sub is not None and sub != inner_subject)):
        raise ConnectorError(bad, "JWT sub disagrees with vc.credentialSubject.id", "sub")
    holder = sub if sub is not None else inner_subject
    if not holder:
        raise ConnectorError(bad, "credentialSubject has no id (sub or vc.credentialSubject.id)", "sub")
    subject["id"] = holder
    nbf, exp = optional_time(c, "nbf", what), optional_time(c, "exp", what)
    valid_from = nbf if nbf is not None else parse_datetime(vc.get("issuanceDate"), bad, "vc.issuanceDate")
    if exp is not None:
        valid_until: datetime | None = exp
    elif "expirationDate" in vc:
        valid_until = parse_datetime(vc["expirationDate"], bad, "vc.expirationDate")
    else:
        valid_until = None
    if valid_until is not None and valid_until <= valid_from:
        raise ConnectorError(bad, "the expiration date does not follow the issuance date", "exp")
    return Envelope(
        id=cid,
        types=types,
        issuer=issuer,
        subject=MappingProxyType(subject),
        valid_from=valid_from,
        valid_until=valid_until,
        expires_at=exp,
        status=vc.get("credentialStatus"),
        profile=vocab.PROFILE_VC11,
    )


def read_credential_unverified(token: str) -> Envelope:
    """A credential's properties without any trust decision (a holder selecting its own credentials)."""
    return read_envelope(parse_jwt(token, "credential"), "credential")


# ---------------------------------------------------------------------------------------------------------
# Verification


@dataclass(frozen=True)
class CheckedCredential:
    """A credential whose signature, issuer, types, validity and subject checked out; its status is still open."""

    token: str
    id: str
    types: tuple[str, ...]
    issuer: str
    federation: str
    kid: str
    subject: Mapping[str, Any]
    valid_from: datetime
    valid_until: datetime
    status: StatusEntry | None
    profile: str = vocab.PROFILE_VC20
    federation_id: str = ""

    @functools.cached_property
    def sha256(self) -> str:
        return sha256_hex(self.token.encode("ascii"))

    def verified(self) -> VerifiedCredential:
        """The hand-over value, once the caller has established the status."""
        return self._verified

    @functools.cached_property
    def _verified(self) -> VerifiedCredential:
        # Built once: a reused presentation hands the same immutable value over on every request.
        return VerifiedCredential(
            id=self.id,
            types=self.types,
            issuer=self.issuer,
            federation=self.federation,
            subject=self.subject,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            sha256=self.sha256,
            status=self.status,
            federation_id=self.federation_id,
        )

    def valid_at(self, now: datetime, leeway: timedelta = DEFAULT_LEEWAY) -> bool:
        return self.valid_from <= now + leeway and now < self.valid_until + leeway


def status_entry(raw: Any, trust_store: TrustStore, issuer: str) -> StatusEntry:
    """A credential status entry (of a credential of `issuer`) whose list URL the trust store allows."""
    if isinstance(raw, list):
        if len(raw) != 1:
            raise ConnectorError(
                "credential.status_unsupported", "exactly one credentialStatus entry is supported", "credentialStatus"
            )
        raw = raw[0]
    if not isinstance(raw, dict) or raw.get("type") not in STATUS_ENTRY_TYPES:
        raise ConnectorError(
            "credential.status_unsupported",
            "credentialStatus must be a BitstringStatusListEntry or a StatusList2021Entry",
            "credentialStatus",
        )
    kind = raw["type"]
    purpose = raw.get("statusPurpose")
    if purpose not in ("revocation", "suspension"):
        raise ConnectorError(
            "credential.status_unsupported",
            f"status purpose {str(purpose)[:50]!r} cannot be evaluated",
            "statusPurpose",
        )
    if kind == vocab.BITSTRING_STATUS_LIST_ENTRY and raw.get("statusSize", 1) != 1:
        raise ConnectorError("credential.status_unsupported", "only statusSize 1 is supported", "statusSize")
    index = raw.get("statusListIndex")
    if not isinstance(index, str) or not _INDEX.match(index):
        raise ConnectorError(
            "credential.malformed", "statusListIndex must be a base-10 integer string", "statusListIndex"
        )
    url = raw.get("statusListCredential")
    if not plain_https_url(url):
        raise ConnectorError(
            "credential.malformed", "statusListCredential must be a plain https URL", "statusListCredential"
        )
    if not trust_store.status_list_allowed(issuer, url):
        raise ConnectorError(
            "credential.status_url_not_allowed",
            "the issuer's trust list does not allow this status list URL",
            "statusListCredential",
        )
    entry_id = raw.get("id")
    return StatusEntry(purpose, int(index), url, entry_id if isinstance(entry_id, str) else None, kind)


def verify_credential(
    token: object,
    trust_store: TrustStore,
    expected_holder: str,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    require_status: bool = True,
) -> CheckedCredential:
    """Check a JWT VC against the trust store for `expected_holder`; its status is left to the caller."""
    require_aware(now)
    jwt = parse_jwt(token, "credential")
    envelope = read_envelope(jwt, "credential")
    issuer = envelope.issuer
    if not trust_store.is_known(issuer):
        raise ConnectorError(
            "credential.issuer_untrusted", f"issuer {issuer} is on no trust list this node recognises", "issuer"
        )
    specific = [t for t in envelope.types if t != vocab.VERIFIABLE_CREDENTIAL]
    if not specific:
        raise ConnectorError("credential.malformed", "credential names no type besides VerifiableCredential", "type")
    federations: list[str] = []
    for credential_type in specific:
        federation = trust_store.may_issue(issuer, credential_type)
        if federation is None:
            raise ConnectorError(
                "credential.type_not_allowed",
                f"issuer {issuer} is not trusted to issue {credential_type}",
                "type",
            )
        federations.append(federation)
    # Judged by the issuer service's status when the credential was issued (its validFrom): one issued while
    # the service was accredited keeps counting after a later withdrawal, one issued after it never does.
    not_accredited = trust_store.issuer_not_accredited(issuer, envelope.valid_from)
    if not_accredited is not None:
        raise ConnectorError(
            "credential.issuer_not_accredited",
            f"credential {envelope.id} was issued at {format_datetime(envelope.valid_from)}, when its issuer "
            f"{issuer} was not accredited: {not_accredited}",
            "issuer",
        )
    kid = jwt.kid or ""
    if did_of_kid(kid, "credential")[0] != issuer:
        raise ConnectorError("credential.kid_unknown", "credential is signed with a key of another party", "kid")
    try:
        key = trust_store.issuer_key(issuer, kid)
    except ConnectorError as exc:
        raise ConnectorError("credential.kid_unknown", exc.reason, "kid") from None
    verify_signature(jwt, key, "credential")
    if envelope.valid_until is None:
        raise ConnectorError("credential.malformed", "validUntil is required", "validUntil")
    nbf = optional_time(jwt.claims, "nbf", "credential")
    not_before = envelope.valid_from if nbf is None else max(envelope.valid_from, nbf)
    if now + leeway < not_before:
        raise ConnectorError(
            "credential.not_yet_valid", f"credential is not valid before {not_before.isoformat()}", "validFrom"
        )
    expiry = envelope.valid_until if envelope.expires_at is None else min(envelope.valid_until, envelope.expires_at)
    if now >= expiry + leeway:
        raise ConnectorError("credential.expired", f"credential expired at {expiry.isoformat()}", "validUntil")
    if envelope.subject["id"] != expected_holder:
        raise ConnectorError(
            "credential.subject_mismatch",
            "credential is about another participant than the holder",
            "credentialSubject.id",
        )
    for credential_type in specific:
        _check_subject(credential_type, envelope.subject, "credential.malformed")
    status = None
    if envelope.status is not None:
        status = status_entry(envelope.status, trust_store, issuer)
    elif require_status:
        raise ConnectorError(
            "credential.status_missing",
            "credential carries no status entry; revocation could not be checked",
            "credentialStatus",
        )
    return CheckedCredential(
        token=jwt.token,
        id=envelope.id,
        types=envelope.types,
        issuer=issuer,
        federation=federations[0],
        kid=kid,
        subject=envelope.subject,
        valid_from=envelope.valid_from,
        valid_until=expiry,
        status=status,
        profile=envelope.profile,
        federation_id=trust_store.lists_naming(issuer)[0].federation_id,
    )
