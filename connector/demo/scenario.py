"""The demo's data space, as data: two federations that recognise each other, three organisations in three
countries, and datasets whose policies show free flow with trust.

- Japan Data Space (JP) and European Data Space (EU): each an authority with its own root CA, credential issuer,
  status list and trust list; every node configures both trust lists, so members of either federation can
  trade.
- Tokyo Mobility (JP), Berlin Energie (DE) and Lyon Sante (FR).
- Datasets: one open to all members, one restricted to organisations established in the EU (data
  localisation), one limited to a declared purpose and a number of transfers; one that comes with usage duties
  (delete it after a period, inform the provider of each use, never offer it onward); one offered to the members of
  one federation only, in its own terms (which members of the other reach through mutual recognition), and one
  offered to a list of legal entities as base registries identify them.
- Each federation recognises the other's membership as its own for research and public health (a signed
  recognition statement); each organisation's credential states its registration, checked by its authority
  against a base registry (the Japanese corporate number publication, the GLEIF LEI golden copy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Federation:
    key: str  # short name used in paths and ids
    name: str
    dataspace: str  # the data space id members hold a membership credential of (its federation id)


@dataclass(frozen=True)
class Organisation:
    key: str
    name: str
    country: str
    federation: str
    registry: str  # the base registry its authority checks it against: jp-corporate-number or lei
    registry_id: str  # its corporate number or LEI (check digits included)
    registered_name: str  # its legal name in the registry
    address: tuple[str, str, str, str]  # street, locality, region, postal code (as the registry has them)


@dataclass(frozen=True)
class Dataset:
    id: str
    provider: str
    title: str
    description: str
    source: dict[str, Any]
    policy: dict[str, Any]  # the contract policy (ODRL, as it goes on the wire)
    policy_words: str
    expected: dict[str, str]  # organisation key -> "granted" | "refused: <why>"
    media_type: str = "text/csv"
    keywords: tuple[str, ...] = ()
    access_policy: dict[str, Any] | None = None
    formats: tuple[str, ...] = ("HttpData-PULL",)


FEDERATIONS = (
    Federation("jp", "Japan Data Space", "urn:dataspace:japan-data-space"),
    Federation("eu", "European Data Space", "urn:dataspace:european-data-space"),
)

ORGANISATIONS = (
    Organisation(
        "tokyo-mobility",
        "Tokyo Mobility K.K.",
        "JP",
        "jp",
        "jp-corporate-number",
        "9010401123456",
        "東京モビリティ株式会社",
        ("2-7-1 Otemachi", "Chiyoda ku", "Tokyo", "1000004"),
    ),
    Organisation(
        "berlin-energy",
        "Berlin Energie GmbH",
        "DE",
        "eu",
        "lei",
        "5299000BERLINENERG61",
        "Berlin Energie GmbH",
        ("Stromstrasse 15", "Berlin", "DE-BE", "10551"),
    ),
    Organisation(
        "lyon-health",
        "Lyon Sante SAS",
        "FR",
        "eu",
        "lei",
        "969500LYONSANTE00095",
        "Lyon Sante SAS",
        ("3 quai des Celestins", "Lyon", "FR-69", "69002"),
    ),
)
# The purposes each federation recognises the other's membership for.
RECOGNISED_PURPOSES = ("research", "public-health")

MEMBERS_OF_EITHER = {
    "leftOperand": "membership",
    "operator": "isAnyOf",
    "rightOperand": [f.dataspace for f in FEDERATIONS],
}

# The demo's "delete after a period": seconds, so that the story sees it happen (in earnest, P30D and the like).
DELETE_WITHIN = "PT4S"

EV_CHARGING = Dataset(
    id="ev-charging-sessions",
    provider="tokyo-mobility",
    title="EV charging sessions, Tokyo (per session)",
    description="Start, end and energy of each session at 25 public charging points in Tokyo, one week.",
    source={"type": "file", "path": "ev-charging-sessions.csv", "mediaType": "text/csv"},
    policy={
        "permission": [
            {
                "action": "use",
                "constraint": [MEMBERS_OF_EITHER],
                "duty": [
                    {
                        "action": "odrl:delete",
                        "constraint": [
                            {
                                "leftOperand": "odrl:elapsedTime",
                                "operator": "odrl:lteq",
                                "rightOperand": {"@value": DELETE_WITHIN, "@type": "xsd:duration"},
                            }
                        ],
                    },
                    {"action": "odrl:inform"},
                ],
            }
        ],
        "prohibition": [{"action": "odrl:distribute"}],
    },
    policy_words=(
        f"members of either data space; delete within {DELETE_WITHIN} of the agreement, inform the provider "
        "of each use, no onward transfer"
    ),
    expected={"berlin-energy": "granted: deleted when due, each use receipted, never offered onward"},
    keywords=("mobility", "electric vehicles", "Tokyo"),
    formats=("HttpData-PULL", "HttpData-PUSH"),
)


DATASETS: tuple[Dataset, ...] = (
    Dataset(
        id="traffic-flow",
        provider="tokyo-mobility",
        title="Tokyo traffic flow, 5-minute averages",
        description="Vehicles per lane and mean speed at 40 counting stations in central Tokyo, one day.",
        source={"type": "file", "path": "traffic-flow.csv", "mediaType": "text/csv"},
        policy={"permission": [{"action": "use", "constraint": [MEMBERS_OF_EITHER]}]},
        policy_words="open to every member of either data space",
        expected={"berlin-energy": "granted", "lyon-health": "granted"},
        keywords=("mobility", "traffic", "Tokyo"),
    ),
    Dataset(
        id="smart-meter-readings",
        provider="berlin-energy",
        title="Household smart-meter readings, Berlin (pseudonymised)",
        description="15-minute electricity readings of 200 households; EU personal data that stays in the EU.",
        source={
            "type": "sql",
            "database": "meters.sqlite",
            "format": "csv",
            "query": "SELECT meter, ts, kwh FROM readings ORDER BY meter, ts",
        },
        policy={
            "permission": [
                {
                    "action": "use",
                    "constraint": [
                        MEMBERS_OF_EITHER,
                        {"leftOperand": "countryOfEstablishment", "operator": "isPartOf", "rightOperand": "EU"},
                    ],
                }
            ]
        },
        policy_words="only organisations established in the EU (data localisation)",
        expected={"lyon-health": "granted", "tokyo-mobility": "refused: established in JP, not in the EU"},
        keywords=("energy", "smart meter", "Berlin"),
    ),
    Dataset(
        id="hospital-occupancy",
        provider="lyon-health",
        title="Hospital bed occupancy, Lyon metropolitan area",
        description="Daily occupied and free beds per ward in 12 hospitals over one year, aggregated.",
        source={"type": "file", "path": "hospital-occupancy.jsonl", "mediaType": "application/x-ndjson"},
        policy={
            "permission": [
                {
                    "action": "use",
                    "constraint": [
                        MEMBERS_OF_EITHER,
                        {
                            "leftOperand": "purpose",
                            "operator": "isAnyOf",
                            "rightOperand": ["research", "public-health"],
                        },
                        {"leftOperand": "count", "operator": "lteq", "rightOperand": "2"},
                    ],
                }
            ]
        },
        policy_words="only for research or public health, at most 2 transfers",
        expected={
            "tokyo-mobility": "granted for research (2 transfers), refused for marketing",
            "berlin-energy": "granted for research (2 transfers), refused for marketing",
        },
        media_type="application/x-ndjson",
        keywords=("health", "hospital", "Lyon"),
    ),
    EV_CHARGING,
)


# Offered under the trust framework: recognition between federations, base registries.
TRUST_FRAMEWORK_DATASETS = (
    Dataset(
        id="grid-frequency",
        provider="berlin-energy",
        title="Grid frequency, Berlin substation, one-second samples",
        description="Mains frequency at a 110 kV substation for one hour, for research on grid stability.",
        source={"type": "file", "path": "grid-frequency.csv", "mediaType": "text/csv"},
        policy={
            "permission": [
                {
                    "action": "use",
                    "constraint": [
                        {
                            "leftOperand": "membership",
                            "operator": "eq",
                            "rightOperand": "urn:dataspace:european-data-space",
                        }
                    ],
                }
            ]
        },
        policy_words="members of the European Data Space only (its own terms)",
        expected={"tokyo-mobility": "granted for research through mutual recognition, refused for marketing"},
        keywords=("energy", "grid", "Berlin"),
    ),
    Dataset(
        id="charging-stations",
        provider="tokyo-mobility",
        title="EV charging stations in Tokyo, occupancy by hour",
        description="Occupancy of 120 public charging points for one week, for the listed partner companies.",
        source={"type": "file", "path": "charging-stations.csv", "mediaType": "text/csv"},
        policy={
            "permission": [
                {
                    "action": "use",
                    "constraint": [
                        {
                            "leftOperand": "legalEntity",
                            "operator": "isAnyOf",
                            "rightOperand": ["lei:5299000BERLINENERG61"],
                        },
                        {"leftOperand": "registeredIn", "operator": "isPartOf", "rightOperand": "EU"},
                    ],
                }
            ]
        },
        policy_words="only the listed legal entity (by LEI), registered in the EU",
        expected={"berlin-energy": "granted: its LEI, checked against the GLEIF golden copy, is on the list"},
        keywords=("mobility", "charging", "Tokyo"),
    ),
)
DATASETS = DATASETS + TRUST_FRAMEWORK_DATASETS


def organisation(key: str) -> Organisation:
    return next(o for o in ORGANISATIONS if o.key == key)


def federation(key: str) -> Federation:
    return next(f for f in FEDERATIONS if f.key == key)


@dataclass
class Ports:
    """Where each service listens (local profile: free loopback ports; compose: fixed ports per host)."""

    authority: dict[str, int] = field(default_factory=dict)
    protocol: dict[str, int] = field(default_factory=dict)
    management: dict[str, int] = field(default_factory=dict)
    data: dict[str, int] = field(default_factory=dict)
