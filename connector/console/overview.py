"""The node page: who this node is, the federations it recognises and how fresh their trust material is, its
health, its evidence log, and the requests it refused lately, grouped by reason."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from connector.console.api import path
from connector.console.kit import Kit, Route
from connector.console.material import OwnMaterial

REFUSALS_READ = 200  # the latest refusals grouped on the page


@dataclass(frozen=True)
class RefusalGroup:
    code: str
    count: int
    last_at: str
    reason: str
    peers: tuple[str, ...]


def refusals_by_reason(items: Sequence[Mapping[str, Any]]) -> list[RefusalGroup]:
    """Refused verifications (newest first) grouped by failed check, the most frequent first."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for item in items:
        groups.setdefault(str(item.get("code") or "unknown"), []).append(item)
    out = [
        RefusalGroup(
            code,
            len(entries),
            str(entries[0].get("at") or ""),
            str(entries[0].get("reason") or ""),
            tuple(dict.fromkeys(str(e.get("peer") or "(no certificate)") for e in entries)),
        )
        for code, entries in groups.items()
    ]
    return sorted(out, key=lambda g: (-g.count, g.code))


class Overview:
    def __init__(self, kit: Kit, material: OwnMaterial, name: str) -> None:
        self.kit = kit
        self.material = material
        self.name = name  # the organisation's display name (node.name)

    def routes(self) -> list[Route]:
        return [("GET", "/", self.page)]

    async def page(self, request: web.Request) -> web.StreamResponse:
        kit = self.kit
        health, trust, *rest = await asyncio.gather(
            kit.api.call("GET", "/check/health", accept=(503,)),
            kit.maybe("GET", "/v1/trust-lists"),
            kit.maybe("GET", "/v1/credentials"),
            kit.maybe("GET", "/v1/evidence"),
            kit.maybe("GET", path("/v1/verifications", outcome="refused", limit=REFUSALS_READ)),
            kit.maybe("GET", path("/v1/negotiations", limit=5)),
            kit.maybe("GET", path("/v1/transfers", limit=5)),
            kit.maybe("GET", path("/v1/agreements", limit=1)),
        )
        trust_lists, trust_problem = trust
        credentials, evidence, refused, negotiations, transfers, agreements = (answer for answer, _ in rest)
        refusals = (refused or {}).get("items", [])
        return kit.render(
            request,
            "overview.html",
            health=health or {},
            organisation=self.name,
            material=self.material.read(),
            trust_lists=trust_lists,
            trust_problem=trust_problem,
            credentials=(credentials or {}).get("items", []),
            evidence=evidence or {"enabled": False},
            refusal_groups=refusals_by_reason(refusals),
            refusals=refusals[:10],
            refusals_total=(refused or {}).get("total", 0),
            negotiations=negotiations or {"items": [], "total": 0},
            transfers=transfers or {"items": [], "total": 0},
            agreements_total=(agreements or {}).get("total", 0),
        )
