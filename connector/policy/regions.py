"""Countries and named regions for data-localisation rules.

A right operand of `countryOfEstablishment` names places: an ISO 3166-1 alpha-2 country code or a region that
stands for its member countries. Built-in regions are memberships as of 2026; a deployment adds its own through
configuration (a mapping of region name to country codes). Built-in names win over configured ones, so a
configuration cannot quietly redefine what `EU` means; `validate_regions` reports such a collision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from connector.errors import Problem

# ISO 3166-1 alpha-2, officially assigned codes.
COUNTRY_CODES: frozenset[str] = frozenset(
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

_EU = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split())
_EFTA = frozenset("CH IS LI NO".split())

# Named regions, by their usual abbreviation. APAC and similar marketing regions have no agreed member list,
# so they are left to configuration rather than guessed here.
BUILTIN_REGIONS: Mapping[str, frozenset[str]] = {
    "EU": _EU,  # European Union, 27 member states
    "EEA": _EU | {"IS", "LI", "NO"},  # European Economic Area: the EU plus three EFTA states
    "EFTA": _EFTA,
    "ASEAN": frozenset("BN KH ID LA MY MM PH SG TH VN TL".split()),  # Timor-Leste admitted October 2025
    "G7": frozenset("CA FR DE IT JP GB US".split()),
    "G20": frozenset("AR AU BR CA CN FR DE IN ID IT JP KR MX RU SA ZA TR GB US".split()),  # member countries only
    "APEC": frozenset("AU BN CA CL CN HK ID JP KR MY MX NZ PG PE PH RU SG TW TH US VN".split()),
}


def expand_place(name: str, configured: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    """The country codes a place name stands for, or None if it names nothing known."""
    upper = name.upper()
    builtin = BUILTIN_REGIONS.get(upper)
    if builtin is not None:
        return builtin
    if upper in COUNTRY_CODES:
        return frozenset((upper,))
    found = configured.get(name)
    if found is None:
        found = configured.get(upper)
    return found


def is_static_place(name: str) -> bool:
    """Whether the name resolves without configuration (a built-in region or a country code)."""
    upper = name.upper()
    return upper in BUILTIN_REGIONS or upper in COUNTRY_CODES


def describe_place(name: str, countries: frozenset[str] | None, limit: int = 6) -> str:
    """`EU (AT, BE, BG, CY, CZ, DE, ... 27 countries)`; a country code is shown as itself."""
    if countries is None:
        return f"{name} (unknown region)"
    if len(countries) == 1 and name.upper() in countries:
        return name.upper()
    listed = sorted(countries)
    shown = ", ".join(listed[:limit])
    more = f", ... {len(listed)} countries" if len(listed) > limit else ""
    return f"{name} ({shown}{more})"


def validate_regions(regions: Mapping[str, Iterable[str]], where: str = "regions") -> list[Problem]:
    """Problems in configured regions: names that collide with built-ins or countries, members that are not codes."""
    problems: list[Problem] = []
    for name, members in regions.items():
        path = f"{where}.{name}"
        if not isinstance(name, str) or not name:
            problems.append(Problem("policy.bad_region", "A region name must be a non-empty string.", where))
            continue
        if is_static_place(name):
            problems.append(
                Problem(
                    "policy.bad_region",
                    f"Region '{name}' collides with a built-in region or country code, which always wins.",
                    path,
                )
            )
        if isinstance(members, str):
            problems.append(Problem("policy.bad_region", f"Region '{name}' must list country codes.", path))
            continue
        for index, code in enumerate(members):
            if not isinstance(code, str) or code not in COUNTRY_CODES:
                problems.append(
                    Problem(
                        "policy.bad_region",
                        f"Region '{name}' lists {code!r}, which is not an ISO 3166-1 alpha-2 country code.",
                        f"{path}[{index}]",
                    )
                )
    return problems
