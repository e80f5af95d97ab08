"""Base registries: identifiers by their check digits, the two publications read in their published layouts, and
the registry facts an organisation credential carries."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from registry_samples import CLOSED, CLOSED_JA, KAWASAKI, KAWASAKI_JA, LAPSED, RHEIN, corporate_number, lei

from connector.errors import ConnectorError
from connector.trust.registries import (
    GLEIF_COLUMNS,
    JP_CORPORATE_NUMBER,
    LEI,
    RegistryFacts,
    RegistrySource,
    check_identifier,
    corporate_number_valid,
    find_record,
    lei_valid,
    read_gleif_lei_cdf,
    read_nta_corporate_numbers,
    read_registry_facts,
    to_gleif_row,
    to_nta_row,
)


def _csv(rows: list[list[str]], quoting: int = csv.QUOTE_ALL) -> list[str]:
    out = io.StringIO()
    csv.writer(out, quoting=quoting, lineterminator="\r\n").writerows(rows)
    return out.getvalue().splitlines(keepends=True)


@given(st.text("0123456789", min_size=12, max_size=12), st.integers(0, 11), st.integers(0, 9))
def test_a_corporate_number_is_checked_by_its_leading_digit(base: str, where: int, digit: int) -> None:
    number = corporate_number(base)
    assert corporate_number_valid(number)
    delta = digit - int(number[1 + where])
    altered = number[: 1 + where] + str(digit) + number[2 + where :]
    # A changed digit shifts the weighted sum by delta or 2 * delta: caught unless that is a multiple of 9.
    assert corporate_number_valid(altered) == (delta in (0, 9, -9))


@given(st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=18, max_size=18), st.integers(0, 99), st.integers(1, 9))
def test_an_lei_is_checked_by_its_two_last_digits(prefix: str, pick: int, shift: int) -> None:
    code = lei(prefix)
    assert lei_valid(code)
    # Any of its digits (the two check digits at least): picked, not filtered for, so that no run is too few.
    digits = [i for i, c in enumerate(code) if c.isdigit()]
    where = digits[pick % len(digits)]
    # MOD 97-10 catches every change of one digit into another.
    altered = code[:where] + str((int(code[where]) + shift) % 10) + code[where + 1 :]
    assert not lei_valid(altered)


def test_identifiers_of_known_and_unknown_registries() -> None:
    assert check_identifier(JP_CORPORATE_NUMBER, KAWASAKI.identifier) == KAWASAKI.identifier
    for registry, bad in ((JP_CORPORATE_NUMBER, "1234567890123"), (LEI, "529900RHEINDATA00000"), (LEI, "short")):
        with pytest.raises(ConnectorError) as err:
            check_identifier(registry, bad)
        assert err.value.code == "registry.bad_identifier"
    with pytest.raises(ConnectorError) as err:
        check_identifier("uk-companies-house", "01234567")
    assert err.value.code == "registry.unknown"


def test_the_corporate_number_publication_reads_as_published() -> None:
    lines = _csv([to_nta_row(KAWASAKI, 1, KAWASAKI_JA), to_nta_row(CLOSED, 2, CLOSED_JA)])
    assert len(next(csv.reader(lines[:1]))) == 30
    found = list(read_nta_corporate_numbers(lines))
    assert [r.identifier for r in found] == [KAWASAKI.identifier, CLOSED.identifier]
    kawasaki, closed = found
    assert kawasaki.legal_name == "川崎データ流通株式会社" and kawasaki.english_name.startswith("Kawasaki")
    assert (kawasaki.address.street, kawasaki.address.locality, kawasaki.address.country) == (
        "1-2-3 Marunouchi",
        "Chiyoda ku",
        "JP",
    )
    assert kawasaki.active and not closed.active and "closed 2024-11-30" in closed.status
    # A Web-API file's header line (last update, count, divide number, divide size) is skipped.
    assert [r.identifier for r in read_nta_corporate_numbers(_csv([["2026-03-31", "2", "1", "1"]]) + lines)] == [
        KAWASAKI.identifier,
        CLOSED.identifier,
    ]
    with pytest.raises(ConnectorError) as err:
        list(read_nta_corporate_numbers(_csv([["1", KAWASAKI.identifier, "01"]])))
    assert err.value.code == "registry.malformed" and err.value.where == "line 1"


def test_an_earlier_state_of_an_entry_is_not_its_record() -> None:
    old = to_nta_row(KAWASAKI, 1, KAWASAKI_JA)
    old[6], old[23] = "川崎旧商号株式会社", "0"
    found = find_record(JP_CORPORATE_NUMBER, _csv([old, to_nta_row(KAWASAKI, 2, KAWASAKI_JA)]), KAWASAKI.identifier)
    assert found is not None and found.legal_name == KAWASAKI.legal_name


def test_a_golden_copy_extract_is_read_by_its_column_names() -> None:
    lines = _csv(
        [list(GLEIF_COLUMNS), to_gleif_row(RHEIN, "DE", "2HBR"), to_gleif_row(LAPSED, "FR", "6CHY", "LAPSED")],
        csv.QUOTE_MINIMAL,
    )
    rhein, lapsed = read_gleif_lei_cdf(lines)
    assert (rhein.legal_name, rhein.address.country, rhein.active) == ("Rhein Datenwerk GmbH", "DE", True)
    assert not lapsed.active and "LAPSED" in lapsed.status
    # Fewer columns, in another order: found by name all the same.
    reordered = ["Entity.LegalAddress.Country", "LEI", "Entity.LegalName", "Entity.EntityStatus"]
    row = ["DE", RHEIN.identifier, "Rhein Datenwerk GmbH", "ACTIVE"]
    (record,) = read_gleif_lei_cdf(_csv([reordered, row]))
    assert record.identifier == RHEIN.identifier and not record.active  # no registration status: not in standing
    with pytest.raises(ConnectorError) as err:
        list(read_gleif_lei_cdf(_csv([["Name", "Country"], ["x", "DE"]])))
    assert err.value.code == "registry.malformed"


def test_registry_facts_round_trip_through_a_credential_subject() -> None:
    facts = RegistryFacts(
        LEI,
        RHEIN.identifier,
        RHEIN.legal_name,
        RHEIN.address,
        datetime(2026, 6, 1, 9, 30, tzinfo=UTC),
        RegistrySource("20260601-0000-gleif-goldencopy-lei2-golden-copy.csv", "ab" * 32, "2026-06-01"),
    )
    subject = {"id": "did:web:x", **facts.subject_claims()}
    assert read_registry_facts(subject) == facts
    assert facts.legal_entity == f"lei:{RHEIN.identifier}"
    assert read_registry_facts({"id": "did:web:x"}) is None
    broken = {**subject, "registration": {**subject["registration"], "identifier": "529900RHEINDATA00000"}}
    with pytest.raises(ConnectorError) as err:
        read_registry_facts(broken)
    assert err.value.code == "credential.malformed"
