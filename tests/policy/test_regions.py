from __future__ import annotations

import pytest

from connector.policy.regions import (
    BUILTIN_REGIONS,
    COUNTRY_CODES,
    describe_place,
    expand_place,
    validate_regions,
)


def test_iso_3166_alpha_2_lists_all_249_assigned_codes() -> None:
    assert len(COUNTRY_CODES) == 249
    assert all(len(code) == 2 and code.isascii() and code.isupper() for code in COUNTRY_CODES)
    assert {"DE", "JP", "GR", "GB", "TL", "SS"} <= COUNTRY_CODES
    assert not {"EL", "UK", "XK", "EU"} & COUNTRY_CODES  # EU spellings and user-assigned codes are not countries


def test_eu_has_its_27_member_states_as_of_2026() -> None:
    eu = BUILTIN_REGIONS["EU"]
    assert len(eu) == 27
    assert {"HR", "GR", "CY", "MT"} <= eu
    assert "GB" not in eu


def test_eea_is_the_eu_plus_iceland_liechtenstein_and_norway() -> None:
    assert BUILTIN_REGIONS["EEA"] == BUILTIN_REGIONS["EU"] | {"IS", "LI", "NO"}
    assert "CH" not in BUILTIN_REGIONS["EEA"]


def test_asean_includes_timor_leste() -> None:
    assert len(BUILTIN_REGIONS["ASEAN"]) == 11 and "TL" in BUILTIN_REGIONS["ASEAN"]


def test_every_region_member_is_a_country_code() -> None:
    for name, members in BUILTIN_REGIONS.items():
        assert members <= COUNTRY_CODES, name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("EU", BUILTIN_REGIONS["EU"]),
        ("eu", BUILTIN_REGIONS["EU"]),
        ("de", frozenset({"DE"})),
        ("JP", frozenset({"JP"})),
    ],
)
def test_places_expand_case_insensitively(name: str, expected: frozenset[str]) -> None:
    assert expand_place(name, {}) == expected


def test_configured_regions_add_to_but_never_replace_built_ins() -> None:
    configured = {"NORDICS": frozenset({"DK", "FI", "IS", "NO", "SE"}), "EU": frozenset({"JP"})}
    assert expand_place("NORDICS", configured) == configured["NORDICS"]
    assert expand_place("EU", configured) == BUILTIN_REGIONS["EU"]
    assert expand_place("ATLANTIS", configured) is None


def test_region_descriptions_list_countries() -> None:
    assert describe_place("EU", BUILTIN_REGIONS["EU"]).startswith("EU (AT, BE, BG, CY, CZ, DE, ... 27 countries)")
    assert describe_place("jp", frozenset({"JP"})) == "JP"


def test_validate_regions_reports_collisions_and_bad_members() -> None:
    problems = validate_regions({"EU": ["DE"], "NORDICS": ["DK", "XX", 7], "OK": ["DE", "FR"]})
    wheres = [p.where for p in problems]
    assert wheres == ["regions.EU", "regions.NORDICS[1]", "regions.NORDICS[2]"]
    assert all(p.code == "policy.bad_region" for p in problems)
    assert validate_regions({"NORDICS": ["DK", "SE"]}) == []
