"""What the operator defines: assets (what is offered), policies (under which terms), and offers (which asset
under which policies); the catalogue is made of these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.records.columns import from_json_column, iso, json_column, parse_iso, utcnow


@dataclass(frozen=True)
class Asset:
    id: str
    title: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()
    media_type: str = "application/octet-stream"
    formats: tuple[str, ...] = ("HttpData-PULL",)
    source: Mapping[str, Any] = field(default_factory=dict)  # the data address the data plane reads from
    properties: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "keywords": json_column(list(self.keywords)),
            "media_type": self.media_type,
            "formats": json_column(list(self.formats)),
            "source": json_column(dict(self.source)),
            "properties": json_column(dict(self.properties)),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Asset:
        return cls(
            id=row["id"],
            title=row["title"],
            description=row["description"],
            keywords=tuple(from_json_column(row["keywords"])),
            media_type=row["media_type"],
            formats=tuple(from_json_column(row["formats"])),
            source=from_json_column(row["source"]),
            properties=from_json_column(row["properties"]),
            created_at=parse_iso(row["created_at"]),
            updated_at=parse_iso(row["updated_at"]),
        )

    def to_api(self, include_source: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "keywords": list(self.keywords),
            "mediaType": self.media_type,
            "formats": list(self.formats),
            "properties": dict(self.properties),
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }
        if include_source:
            out["source"] = _redacted(self.source)
        return out


def _redacted(source: Mapping[str, Any]) -> dict[str, Any]:
    """A source as the API shows it: secret header values are never echoed back."""
    out = dict(source)
    headers = out.get("headers")
    if isinstance(headers, dict):
        out["headers"] = {k: (v if isinstance(v, dict) and "env" in v else "***") for k, v in headers.items()}
    return out


@dataclass(frozen=True)
class PolicyDefinition:
    id: str
    policy: Mapping[str, Any]  # ODRL JSON as it goes on the wire (permission/prohibition/obligation)
    description: str = ""
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "policy": json_column(dict(self.policy)),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PolicyDefinition:
        return cls(
            id=row["id"],
            policy=from_json_column(row["policy"]),
            description=row["description"],
            created_at=parse_iso(row["created_at"]),
            updated_at=parse_iso(row["updated_at"]),
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "policy": dict(self.policy),
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass(frozen=True)
class OfferDefinition:
    """Which asset is offered under which contract policy, and who may see it (access policy)."""

    id: str  # the Offer @id peers see in the catalogue and put in their requests
    asset_id: str
    contract_policy_id: str
    access_policy_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "asset_id": self.asset_id,
            "contract_policy_id": self.contract_policy_id,
            "access_policy_id": self.access_policy_id,
            "created_at": iso(self.created_at),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> OfferDefinition:
        return cls(
            id=row["id"],
            asset_id=row["asset_id"],
            contract_policy_id=row["contract_policy_id"],
            access_policy_id=row["access_policy_id"],
            created_at=parse_iso(row["created_at"]),
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "assetId": self.asset_id,
            "contractPolicyId": self.contract_policy_id,
            "accessPolicyId": self.access_policy_id,
            "createdAt": iso(self.created_at),
        }
