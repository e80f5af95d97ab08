"""Base registries: the official records of legal entities, as published, and the facts a credential carries of them.

Two publications are read, in their published layouts:

- the Japanese National Tax Agency's corporate number publication (法人番号公表サイト, the full data and the
  differences, CSV in Unicode): 30 columns without a header row - sequence number, corporate number, process,
  correction, update date, change date, name, name image id, kind, prefecture, city, street, address image id,
  prefecture code, city code, postal code, address outside Japan, its image id, close date, close cause,
  successor corporate number, change cause, assignment date, latest, English name, English prefecture, English
  city and street, English address outside Japan, furigana, excluded from search. (A file fetched from the
  Web-API starts with a line of four fields - last update date, count, divide number, divide size - which is
  skipped.)
- a GLEIF golden copy extract in the LEI Common Data File format (``LEI``, ``Entity.LegalName``,
  ``Entity.LegalAddress.*``, ``Entity.LegalJurisdiction``, ``Entity.EntityStatus``,
  ``Registration.RegistrationStatus``, ...), CSV with a header row; columns are found by name, so an extract
  with fewer columns, or in another order, reads the same.

Each gives `RegistryRecord` values; identifiers are checked by their check digits (a corporate number's leading
check digit, an LEI's ISO 7064 MOD 97-10 pair), so a typing error in a request is caught before any lookup.

`RegistryFacts` is what an authority that checked an organisation against a registry at issuance writes into its
OrganizationCredential (``credentialSubject.registration``, with ``legalName`` and ``legalAddress`` taken from the
record): the registry, the identifier, when it was checked and which publication (its file name, SHA-256 and
date) it was checked against. Policies read it as the left operands ``legalEntity`` and ``registeredIn``.
Pure: lines in, values out.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.errors import ConnectorError
from connector.trust.times import format_datetime, parse_datetime

JP_CORPORATE_NUMBER = "jp-corporate-number"
LEI = "lei"
REGISTRIES = {
    JP_CORPORATE_NUMBER: "the National Tax Agency's corporate number publication (Japan)",
    LEI: "the GLEIF golden copy of Legal Entity Identifiers",
}

NTA_COLUMNS = (
    "sequenceNumber",
    "corporateNumber",
    "process",
    "correct",
    "updateDate",
    "changeDate",
    "name",
    "nameImageId",
    "kind",
    "prefectureName",
    "cityName",
    "streetNumber",
    "addressImageId",
    "prefectureCode",
    "cityCode",
    "postCode",
    "addressOutside",
    "addressOutsideImageId",
    "closeDate",
    "closeCause",
    "successorCorporateNumber",
    "changeCause",
    "assignmentDate",
    "latest",
    "enName",
    "enPrefectureName",
    "enCityName",
    "enAddressOutside",
    "furigana",
    "hihyoji",
)
# The LEI-CDF columns read here, in the golden copy's order (the publication has more, between and after them).
GLEIF_COLUMNS = (
    "LEI",
    "Entity.LegalName",
    "Entity.LegalName.xmllang",
    "Entity.LegalAddress.xmllang",
    "Entity.LegalAddress.FirstAddressLine",
    "Entity.LegalAddress.AddressNumber",
    "Entity.LegalAddress.AdditionalAddressLine.1",
    "Entity.LegalAddress.City",
    "Entity.LegalAddress.Region",
    "Entity.LegalAddress.Country",
    "Entity.LegalAddress.PostalCode",
    "Entity.RegistrationAuthority.RegistrationAuthorityID",
    "Entity.RegistrationAuthority.RegistrationAuthorityEntityID",
    "Entity.LegalJurisdiction",
    "Entity.EntityCategory",
    "Entity.LegalForm.EntityLegalFormCode",
    "Entity.EntityStatus",
    "Registration.InitialRegistrationDate",
    "Registration.LastUpdateDate",
    "Registration.RegistrationStatus",
    "Registration.NextRenewalDate",
    "Registration.ManagingLOU",
    "Registration.ValidationSources",
)
# Registration statuses under which an LEI's record stands (GLEIF: issued, or being moved between issuers).
LEI_STANDING = frozenset({"ISSUED", "PENDING_TRANSFER", "PENDING_ARCHIVAL"})
_CORPORATE_NUMBER = re.compile(r"^[0-9]{13}$")
_LEI = re.compile(r"^[0-9A-Z]{18}[0-9]{2}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def corporate_number_valid(number: str) -> bool:
    """A 13-digit corporate number whose first digit is the check digit of the other twelve: 9 minus (the sum of
    the digits, from the right, weighted 1, 2, 1, 2, ...) modulo 9."""
    if not _CORPORATE_NUMBER.match(number):
        return False
    base = number[1:]
    total = sum(int(d) * (1 if i % 2 == 0 else 2) for i, d in enumerate(reversed(base)))
    return int(number[0]) == 9 - total % 9


def corporate_number_check_digit(base: str) -> str:
    """The check digit for a twelve-digit base number (to make sample numbers)."""
    total = sum(int(d) * (1 if i % 2 == 0 else 2) for i, d in enumerate(reversed(base)))
    return str(9 - total % 9)


def _mod97(text: str) -> int:
    return int("".join(str(int(c, 36)) for c in text)) % 97


def lei_valid(lei: str) -> bool:
    """A 20-character LEI whose last two digits check it (ISO 17442: ISO 7064 MOD 97-10)."""
    return bool(_LEI.match(lei)) and _mod97(lei) == 1


def lei_check_digits(prefix: str) -> str:
    """The two check digits for an 18-character LEI prefix (to make sample LEIs)."""
    return f"{98 - _mod97(prefix + '00'):02d}"


def identifier_valid(registry: str, identifier: str) -> bool:
    if registry == JP_CORPORATE_NUMBER:
        return corporate_number_valid(identifier)
    if registry == LEI:
        return lei_valid(identifier)
    return False


def _bad_registry(registry: str) -> ConnectorError:
    known = ", ".join(sorted(REGISTRIES))
    return ConnectorError("registry.unknown", f"unknown registry '{registry[:40]}' (known: {known})", "registry")


def check_identifier(registry: str, identifier: str) -> str:
    """`identifier` if it is a well-formed one of `registry`; ConnectorError(registry.bad_identifier) if not."""
    if registry not in REGISTRIES:
        raise _bad_registry(registry)
    if not identifier_valid(registry, identifier):
        what = "a 13-digit corporate number" if registry == JP_CORPORATE_NUMBER else "a 20-character LEI"
        raise ConnectorError(
            "registry.bad_identifier",
            f"'{identifier[:40]}' is not {what} (its check digits do not match)",
            "identifier",
        )
    return identifier


@dataclass(frozen=True)
class LegalAddress:
    street: str
    locality: str
    country: str  # ISO 3166-1 alpha-2
    region: str = ""
    postal_code: str = ""

    def to_json(self) -> dict[str, str]:
        out = {"streetAddress": self.street, "locality": self.locality, "countryCode": self.country}
        if self.region:
            out["region"] = self.region
        if self.postal_code:
            out["postalCode"] = self.postal_code
        return out

    def __str__(self) -> str:
        parts = [self.street, " ".join(p for p in (self.postal_code, self.locality) if p), self.region, self.country]
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class RegistryRecord:
    """One legal entity as a base registry publishes it."""

    registry: str
    identifier: str
    legal_name: str
    address: LegalAddress
    active: bool  # the registry shows the entity in existence and its record in standing
    status: str  # what the registry says, in its words
    updated: str = ""  # the record's last update (a date), when the publication states it
    english_name: str = ""

    @property
    def legal_entity(self) -> str:
        return f"{self.registry}:{self.identifier}"


# ---------------------------------------------------------------------------------------------------------
# The National Tax Agency's corporate number publication


def _nta_address(row: Mapping[str, str]) -> LegalAddress:
    if row["addressOutside"]:  # a foreign company registered in Japan: its address abroad
        return LegalAddress(row["enAddressOutside"] or row["addressOutside"], "", "", "", "")
    if row["enCityName"]:  # "1-3-1 Kasumigaseki, Chiyoda ku": the street, then the city
        street, _, city = row["enCityName"].rpartition(",")
        return LegalAddress(
            street.strip() or city.strip(), city.strip(), "JP", row["enPrefectureName"], row["postCode"]
        )
    return LegalAddress(row["streetNumber"], row["cityName"], "JP", row["prefectureName"], row["postCode"])


def read_nta_corporate_numbers(lines: Iterable[str]) -> Iterator[RegistryRecord]:
    """The records of a corporate number publication (full data or differences), in file order; a row that is
    not one of the publication's is ConnectorError(registry.malformed) naming its line."""
    for number, row in enumerate(csv.reader(lines), 1):
        if not row or (number == 1 and len(row) == 4):
            continue  # an empty line, or the Web-API's header line
        if len(row) != len(NTA_COLUMNS):
            raise ConnectorError(
                "registry.malformed",
                f"line {number} has {len(row)} fields, not the {len(NTA_COLUMNS)} of the corporate number publication",
                f"line {number}",
            )
        fields = dict(zip(NTA_COLUMNS, (v.strip() for v in row)))
        if fields["latest"] not in ("1", ""):
            continue  # an earlier state of the entry (difference files carry the history)
        closed = fields["closeDate"]
        status = f"closed {closed} (cause {fields['closeCause'] or 'not stated'})" if closed else "registered"
        yield RegistryRecord(
            JP_CORPORATE_NUMBER,
            fields["corporateNumber"],
            fields["name"],
            _nta_address(fields),
            active=not closed,
            status=status,
            updated=fields["updateDate"],
            english_name=fields["enName"],
        )


def to_nta_row(
    record: RegistryRecord, sequence: int, japanese: LegalAddress, kind: str = "301", codes: tuple[str, str] = ("", "")
) -> list[str]:
    """A record as a row of the publication (for sample files): `japanese` is the address in Japanese, `codes`
    the prefecture and city codes (JIS X 0401, X 0402)."""
    fields = dict.fromkeys(NTA_COLUMNS, "")
    fields.update(
        sequenceNumber=str(sequence),
        corporateNumber=record.identifier,
        process="01",
        correct="0",
        updateDate=record.updated,
        changeDate=record.updated,
        name=record.legal_name,
        kind=kind,
        prefectureName=japanese.region,
        cityName=japanese.locality,
        streetNumber=japanese.street,
        prefectureCode=codes[0],
        cityCode=codes[1],
        postCode=japanese.postal_code,
        assignmentDate="2015-10-05",
        latest="1",
        enName=record.english_name,
        enPrefectureName=record.address.region,
        enCityName=f"{record.address.street}, {record.address.locality}",
        hihyoji="0",
    )
    if not record.active:
        fields.update(process="71", closeDate=record.updated, closeCause="01")
    return [fields[c] for c in NTA_COLUMNS]


# ---------------------------------------------------------------------------------------------------------
# GLEIF golden copy (LEI-CDF)


def read_gleif_lei_cdf(lines: Iterable[str]) -> Iterator[RegistryRecord]:
    """The records of a golden copy extract (CSV with the LEI-CDF column names in its header row)."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    index = {name: i for i, name in enumerate(header)}
    missing = [c for c in ("LEI", "Entity.LegalName", "Entity.LegalAddress.Country") if c not in index]
    if missing:
        raise ConnectorError(
            "registry.malformed", f"the header names no {', '.join(missing)}: not a golden copy extract", "line 1"
        )
    for row in reader:
        if not row:
            continue

        def col(name: str, row: list[str] = row) -> str:
            i = index.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        street = " ".join(
            p for p in (col("Entity.LegalAddress.FirstAddressLine"), col("Entity.LegalAddress.AddressNumber")) if p
        )
        extra = col("Entity.LegalAddress.AdditionalAddressLine.1")
        address = LegalAddress(
            ", ".join(p for p in (street, extra) if p),
            col("Entity.LegalAddress.City"),
            col("Entity.LegalAddress.Country"),
            col("Entity.LegalAddress.Region"),
            col("Entity.LegalAddress.PostalCode"),
        )
        entity, registration = col("Entity.EntityStatus"), col("Registration.RegistrationStatus")
        yield RegistryRecord(
            LEI,
            col("LEI"),
            col("Entity.LegalName"),
            address,
            active=entity == "ACTIVE" and registration in LEI_STANDING,
            status=f"entity {entity or 'status not stated'}, registration {registration or 'status not stated'}",
            updated=col("Registration.LastUpdateDate")[:10],
        )


def to_gleif_row(
    record: RegistryRecord,
    jurisdiction: str,
    legal_form: str,
    registration_status: str = "ISSUED",
    entity_status: str = "ACTIVE",
) -> list[str]:
    """A record as a row of a golden copy extract with `GLEIF_COLUMNS` (for sample files)."""
    fields = dict.fromkeys(GLEIF_COLUMNS, "")
    fields.update(
        {
            "LEI": record.identifier,
            "Entity.LegalName": record.legal_name,
            "Entity.LegalName.xmllang": "en",
            "Entity.LegalAddress.xmllang": "en",
            "Entity.LegalAddress.FirstAddressLine": record.address.street,
            "Entity.LegalAddress.City": record.address.locality,
            "Entity.LegalAddress.Region": record.address.region,
            "Entity.LegalAddress.Country": record.address.country,
            "Entity.LegalAddress.PostalCode": record.address.postal_code,
            "Entity.LegalJurisdiction": jurisdiction,
            "Entity.EntityCategory": "GENERAL",
            "Entity.LegalForm.EntityLegalFormCode": legal_form,
            "Entity.EntityStatus": entity_status,
            "Registration.InitialRegistrationDate": "2014-06-01T00:00:00Z",
            "Registration.LastUpdateDate": f"{record.updated}T08:00:00Z",
            "Registration.RegistrationStatus": registration_status,
            "Registration.NextRenewalDate": "2027-06-01T00:00:00Z",
            "Registration.ValidationSources": "FULLY_CORROBORATED",
        }
    )
    return [fields[c] for c in GLEIF_COLUMNS]


def find_record(registry: str, lines: Iterable[str], identifier: str) -> RegistryRecord | None:
    """The entry of `identifier` in a publication of `registry` (the last one, for files with several)."""
    check_identifier(registry, identifier)
    reader = read_nta_corporate_numbers if registry == JP_CORPORATE_NUMBER else read_gleif_lei_cdf
    found = None
    for record in reader(lines):
        if record.identifier == identifier:
            found = record
    return found


# ---------------------------------------------------------------------------------------------------------
# What a credential carries


@dataclass(frozen=True)
class RegistrySource:
    """The publication a check was made against."""

    name: str  # its file name
    sha256: str  # of its bytes as read
    published: str  # its date (YYYY-MM-DD)

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "sha256": self.sha256, "published": self.published}


@dataclass(frozen=True)
class RegistryFacts:
    """A legal entity's registry facts, as an authority checked them at issuance."""

    registry: str
    identifier: str
    legal_name: str
    address: LegalAddress
    checked_at: datetime
    source: RegistrySource

    @property
    def legal_entity(self) -> str:
        return f"{self.registry}:{self.identifier}"

    def registration_json(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "identifier": self.identifier,
            "checkedAt": format_datetime(self.checked_at),
            "source": self.source.to_json(),
        }

    def subject_claims(self) -> dict[str, Any]:
        """The credentialSubject members that carry these facts."""
        return {
            "legalName": self.legal_name,
            "legalAddress": self.address.to_json(),
            "registration": self.registration_json(),
        }

    def describe(self) -> str:
        return (
            f"{self.legal_entity}, checked against {self.source.name} (published {self.source.published}, sha256 "
            f"{self.source.sha256[:16]}...) at {format_datetime(self.checked_at)}"
        )


def _string(raw: Mapping[str, Any], key: str, code: str, where: str, required: bool = True) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ConnectorError(code, f"{where}.{key} must be a non-empty string", f"{where}.{key}")
    return value.strip()


def read_registry_facts(subject: Mapping[str, Any], code: str = "credential.malformed") -> RegistryFacts | None:
    """The registry facts of an organisation's credentialSubject (None when it carries none); a subject whose
    facts are not well-formed is ConnectorError(`code`)."""
    raw = subject.get("registration")
    if raw is None:
        return None
    where = "credentialSubject.registration"
    if not isinstance(raw, Mapping):
        raise ConnectorError(code, f"{where} must be an object", where)
    registry = _string(raw, "registry", code, where)
    identifier = _string(raw, "identifier", code, where)
    if registry in REGISTRIES and not identifier_valid(registry, identifier):
        raise ConnectorError(code, f"{where}.identifier is not a valid {registry} identifier", f"{where}.identifier")
    source = raw.get("source")
    if not isinstance(source, Mapping):
        raise ConnectorError(code, f"{where}.source must be an object", f"{where}.source")
    sha = _string(source, "sha256", code, f"{where}.source")
    published = _string(source, "published", code, f"{where}.source")
    if not _SHA256.match(sha) or not _DATE.match(published):
        raise ConnectorError(code, f"{where}.source needs a hex sha256 and a published date", f"{where}.source")
    address = subject.get("legalAddress")
    if not isinstance(address, Mapping):
        raise ConnectorError(code, "credentialSubject.legalAddress must be an object", "credentialSubject.legalAddress")
    country = _string(address, "countryCode", code, "credentialSubject.legalAddress")
    if not _COUNTRY.match(country):
        raise ConnectorError(
            code, "credentialSubject.legalAddress.countryCode must be an ISO 3166-1 alpha-2 code", "legalAddress"
        )
    return RegistryFacts(
        registry,
        identifier,
        _string(subject, "legalName", code, "credentialSubject"),
        LegalAddress(
            _string(address, "streetAddress", code, "credentialSubject.legalAddress", required=False),
            _string(address, "locality", code, "credentialSubject.legalAddress", required=False),
            country,
            _string(address, "region", code, "credentialSubject.legalAddress", required=False),
            _string(address, "postalCode", code, "credentialSubject.legalAddress", required=False),
        ),
        parse_datetime(raw.get("checkedAt"), code, f"{where}.checkedAt"),
        RegistrySource(_string(source, "name", code, f"{where}.source"), sha, published),
    )
