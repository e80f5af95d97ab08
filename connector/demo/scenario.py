"""The demo's data space, as data: two federations that recognise each other, three organisations in three
countries, and datasets whose policies show free flow with trust.

- Japan Data Space (JP) and European Data Space (EU): each an authority with its own root CA, credential issuer,
  status list and trust list; every node configures both trust lists, so members of either federation can
  trade.
- Tokyo Mobility (JP), Berlin Energie (DE) and Lyon Sante (FR).
- Datasets: one open to all members, one restricted to organisations established in the EU (data
  localisation), one limited to a declared purpose and a number of transfers, and one that comes with usage
  duties (delete it after a period, inform the provider of each use, never offer it onward).
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
    Organisation("tokyo-mobility", "Tokyo Mobility K.K.", "JP", "jp"),
    Organisation("berlin-energy", "Berlin Energie GmbH", "DE", "eu"),
    Organisation("lyon-health", "Lyon Sante SAS", "FR", "eu"),
)

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


DATASETS = (
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
