"""Small sample publications of two base registries, in their published layouts: the National Tax Agency's
corporate number CSV (Unicode edition, 30 columns, no header) and a GLEIF golden copy extract (LEI-CDF column
names in a header row). Names, numbers and addresses are made up; the identifiers carry valid check digits."""

from __future__ import annotations

import csv
from pathlib import Path

from connector.trust.registries import (
    GLEIF_COLUMNS,
    JP_CORPORATE_NUMBER,
    LEI,
    LegalAddress,
    RegistryRecord,
    corporate_number_check_digit,
    lei_check_digits,
    to_gleif_row,
    to_nta_row,
)


def corporate_number(base: str) -> str:
    return corporate_number_check_digit(base) + base


def lei(prefix: str) -> str:
    return prefix + lei_check_digits(prefix)


KAWASAKI = RegistryRecord(
    JP_CORPORATE_NUMBER,
    corporate_number("010001123456"),
    "川崎データ流通株式会社",
    LegalAddress("1-2-3 Marunouchi", "Chiyoda ku", "JP", "Tokyo", "1000005"),
    active=True,
    status="registered",
    updated="2026-03-02",
    english_name="Kawasaki Data Exchange Co., Ltd.",
)
KAWASAKI_JA = LegalAddress("丸の内１丁目２－３", "千代田区", "JP", "東京都", "1000005")
CLOSED = RegistryRecord(
    JP_CORPORATE_NUMBER,
    corporate_number("010001654321"),
    "旧物流サービス株式会社",
    LegalAddress("4-5-6 Shiba", "Minato ku", "JP", "Tokyo", "1050014"),
    active=False,
    status="closed",
    updated="2024-11-30",
    english_name="",
)
CLOSED_JA = LegalAddress("芝４丁目５－６", "港区", "JP", "東京都", "1050014")
RHEIN = RegistryRecord(
    LEI,
    lei("529900RHEINDATA000"),
    "Rhein Datenwerk GmbH",
    LegalAddress("Hafenstrasse 12", "Duesseldorf", "DE", "DE-NW", "40213"),
    active=True,
    status="ISSUED",
    updated="2026-05-04",
)
LAPSED = RegistryRecord(
    LEI,
    lei("969500LAPSEDSAS000"),
    "Ancienne Logistique SAS",
    LegalAddress("12 rue du Port", "Marseille", "FR", "FR-13", "13002"),
    active=False,
    status="LAPSED",
    updated="2023-01-15",
)


def write_nta(path: Path, rows: list[tuple[RegistryRecord, LegalAddress]] | None = None) -> Path:
    rows = rows or [(KAWASAKI, KAWASAKI_JA), (CLOSED, CLOSED_JA)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        for sequence, (record, japanese) in enumerate(rows, 1):
            writer.writerow(to_nta_row(record, sequence, japanese, codes=("13", "101")))
    return path


def write_gleif(path: Path, rows: list[tuple[RegistryRecord, str, str, str]] | None = None) -> Path:
    """Rows of (record, jurisdiction, legal form code, registration status)."""
    rows = rows or [(RHEIN, "DE", "2HBR", "ISSUED"), (LAPSED, "FR", "6CHY", "LAPSED")]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(GLEIF_COLUMNS)
        for record, jurisdiction, form, status in rows:
            writer.writerow(to_gleif_row(record, jurisdiction, form, status))
    return path
