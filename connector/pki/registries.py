"""The registry adapter of the authority: an organisation checked against a base registry's publication file.

The authority names the registry (``jp-corporate-number`` or ``lei``), the publication file it holds (the National
Tax Agency's corporate number CSV, a GLEIF golden copy extract) and the organisation's identifier; the file is read
once, line by line, hashing its bytes as they pass, and the organisation's entry must be there and in standing.
What the credential then states (legal name, legal address, identifier, when and against which publication it was
checked) comes from that entry, not from the request. The publication's date is taken from its file name
(``..._20240329.csv``, ``20240329-0000-gleif-goldencopy-...``) or, failing that, from the file's modification time.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from connector.errors import ConnectorError
from connector.trust.registries import (
    JP_CORPORATE_NUMBER,
    REGISTRIES,
    RegistryFacts,
    RegistryRecord,
    RegistrySource,
    check_identifier,
    find_record,
)

_DATE_IN_NAME = re.compile(r"(20\d{2})(\d{2})(\d{2})")
MAX_LINE = 1024 * 1024  # a row of either publication is a few kilobytes: a longer line is no row of theirs
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class RegistryCheck:
    record: RegistryRecord
    facts: RegistryFacts

    def to_ledger(self) -> dict[str, object]:
        """What the authority's ledger keeps of the check."""
        return {
            **self.facts.registration_json(),
            "legalName": self.record.legal_name,
            "status": self.record.status,
            "updated": self.record.updated,
        }


class _Lines:
    """The publication's lines as text, each bounded in length and hashed as it passes; `number` is the last read."""

    def __init__(self, handle: IO[bytes], digest: hashlib._Hash, path: Path) -> None:
        self.handle, self.digest, self.path = handle, digest, path
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        while raw := self.handle.readline(MAX_LINE + 1):
            self.number += 1
            if len(raw) > MAX_LINE:
                raise self.unreadable(f"line {self.number} is longer than {MAX_LINE} bytes: no row of a publication")
            self.digest.update(raw)
            try:
                text = raw.decode("utf-8-sig" if self.number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise self.unreadable("is not UTF-8 (use the publication's Unicode edition)") from None
            yield text

    def rest(self) -> None:
        """Hash the rest of the file, so that the hash is of the whole publication."""
        while chunk := self.handle.read(CHUNK):
            self.digest.update(chunk)

    def unreadable(self, what: str) -> ConnectorError:
        return ConnectorError("pki.registry_unreadable", f"{self.path} {what}", "--registry-file")


def _published(path: Path) -> str:
    match = _DATE_IN_NAME.search(path.name)
    if match:
        try:
            return datetime(int(match[1]), int(match[2]), int(match[3])).date().isoformat()
        except ValueError:
            pass
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()


def check_organisation(registry: str, path: Path, identifier: str, now: datetime) -> RegistryCheck:
    """The registry's entry of `identifier` in the publication `path`, as facts to put in a credential."""
    if registry not in REGISTRIES:
        raise ConnectorError(
            "pki.registry_unknown", f"unknown registry '{registry}' (jp-corporate-number or lei)", "--registry"
        )
    try:
        check_identifier(registry, identifier)
    except ConnectorError as exc:
        raise ConnectorError("pki.registry_identifier", exc.reason, "--registry-id") from None
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            lines = _Lines(handle, digest, path)
            try:
                record = find_record(registry, lines, identifier)
            except csv.Error as exc:  # a field past the CSV reader's bound, a quote never closed
                raise lines.unreadable(f"is not a registry publication's CSV near line {lines.number}: {exc}") from None
            lines.rest()
    except FileNotFoundError:
        raise ConnectorError("pki.registry_missing", f"registry file not found: {path}", "--registry-file") from None
    except OSError as exc:
        raise ConnectorError("pki.registry_unreadable", f"cannot read {path}: {exc}", "--registry-file") from None
    except ConnectorError as exc:
        if exc.code.startswith("pki."):
            raise
        raise ConnectorError("pki.registry_unreadable", f"{path}: {exc.reason}", "--registry-file") from None
    what = "corporate number" if registry == JP_CORPORATE_NUMBER else "LEI"
    if record is None:
        raise ConnectorError("pki.registry_not_found", f"{what} {identifier} is not in {path.name}", "--registry-id")
    if not record.active:
        raise ConnectorError(
            "pki.registry_inactive",
            f"{what} {identifier} ({record.legal_name}) is not in standing in {path.name}: {record.status}",
            "--registry-id",
        )
    if not record.address.country:
        raise ConnectorError(
            "pki.registry_incomplete", f"{path.name} states no country for {what} {identifier}", "--registry-id"
        )
    source = RegistrySource(path.name, digest.hexdigest(), _published(path))
    facts = RegistryFacts(registry, identifier, record.legal_name, record.address, now.replace(microsecond=0), source)
    return RegistryCheck(record, facts)


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def reconcile(check: RegistryCheck, name: str | None, country: str | None) -> tuple[str, str]:
    """The legal name and country to state: the registry's, which a name or country given alongside must match."""
    record = check.record
    if name is not None and not (_same_name(name, record.legal_name) or _same_name(name, record.english_name)):
        raise ConnectorError(
            "pki.registry_mismatch",
            f"the registry's legal name of {record.legal_entity} is '{record.legal_name}'"
            + (f" ('{record.english_name}')" if record.english_name else "")
            + f", not '{name}'",
            "--name",
        )
    if country is not None and country != record.address.country:
        raise ConnectorError(
            "pki.registry_mismatch",
            f"the registry places {record.legal_entity} in {record.address.country}, not {country}",
            "--country",
        )
    return record.legal_name, record.address.country
