"""What the data-plane end-to-end tests share: two real nodes over real mutual TLS, and the moves they make."""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from multidict import CIMultiDict
from nodekit import Management, Participant, make_participant, running_node, write_config


@dataclass
class Pair:
    provider: Participant
    consumer: Participant
    pcfg: Path
    ccfg: Path
    root: Path  # the provider's data root
    inbox: Path  # where pushes to the consumer land
    tmp: Path

    @property
    def pm(self) -> Management:
        return Management(self.provider)

    @property
    def cm(self) -> Management:
        return Management(self.consumer)


def data_section(root: Path, inbox: Path, extra: str = "") -> str:
    return f'\n[data]\nroot = "{root}"\ninbox = "{inbox}"\n{extra}\n'


def make_pair(authority: Any, tmp_path: Path) -> Pair:
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    root = tmp_path / "provider-data"
    root.mkdir()
    inbox = tmp_path / "consumer-inbox"
    pcfg = write_config(provider, tmp_path, extra=data_section(root, tmp_path / "provider-inbox"))
    ccfg = write_config(consumer, tmp_path, extra=data_section(tmp_path / "consumer-data", inbox))
    return Pair(provider, consumer, pcfg, ccfg, root, inbox, tmp_path)


@contextlib.asynccontextmanager
async def both(pair: Pair) -> AsyncIterator[tuple[Any, Any]]:
    async with running_node(pair.pcfg) as p, running_node(pair.ccfg) as c:
        yield p, c


async def agree(
    pair: Pair, asset_id: str, source: dict[str, Any], formats: tuple[str, ...] = ("HttpData-PULL", "HttpData-PUSH")
) -> str:
    """Offer `source` as `asset_id` at the provider and negotiate it to an agreement; returns its id."""
    pm, cm = pair.pm, pair.cm
    await pm.call(
        "POST", "/v1/assets", {"id": asset_id, "title": asset_id, "source": source, "formats": list(formats)}, 201
    )
    await pm.call("POST", "/v1/policies", {"id": f"{asset_id}-use", "policy": {"permission": [{"action": "use"}]}}, 201)
    await pm.call(
        "POST",
        "/v1/offers",
        {"id": f"{asset_id}-offer", "assetId": asset_id, "contractPolicyId": f"{asset_id}-use"},
        201,
    )
    neg = await cm.negotiate(pair.provider, f"{asset_id}-offer", asset_id)
    assert neg["state"] == "FINALIZED", neg
    return neg["agreementId"]


async def started(pair: Pair, agreement_id: str, fmt: str = "HttpData-PULL") -> dict[str, Any]:
    tp = await pair.cm.call("POST", "/v1/transfers", {"agreementId": agreement_id, "format": fmt}, 201)
    return await wait_state(pair.cm, tp["id"], "STARTED")


async def wait_state(m: Management, transfer_id: str, *states: str) -> dict[str, Any]:
    wanted = ",".join(states + ("TERMINATED",))
    tp = await m.call("GET", f"/v1/transfers/{transfer_id}?wait={wanted}&timeout=20", None, 200)
    assert tp["state"] in states, tp
    return tp


async def access(pair: Pair, transfer_id: str) -> dict[str, Any]:
    return await pair.cm.call("POST", f"/v1/transfers/{transfer_id}/token", None, 200)


def client_ssl(who: Participant) -> ssl.SSLContext:
    return who.client_ssl()


@dataclass
class Fetched:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


async def fetch(
    url: str, who: Participant, token: str | None, method: str = "GET", headers: dict[str, str] | None = None, **kw: Any
) -> Fetched:
    """One request to a data endpoint with `who`'s client certificate."""
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, ssl=client_ssl(who), headers=all_headers, **kw) as resp:
            return Fetched(resp.status, CIMultiDict(resp.headers), await resp.read())


async def pull_all(pair: Pair, transfer_id: str) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """Pull a transfer's data whole as the consumer, and its seal; returns (bytes, seal, access)."""
    info = await access(pair, transfer_id)
    got = await fetch(info["endpoint"], pair.consumer, info["authorization"])
    assert got.status == 200, got
    seal = await fetch(info["sealEndpoint"], pair.consumer, info["authorization"])
    assert seal.status == 200, seal
    return got.body, seal.json(), info


async def settle(pair: Pair, transfer_id: str, data: bytes, seal: dict[str, Any]) -> dict[str, Any]:
    """Report the digest and seal to the consumer node (verified and kept), then complete."""
    verdict = await pair.cm.call(
        "POST",
        f"/v1/transfers/{transfer_id}/seal",
        {"seal": seal, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)},
    )
    return verdict


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
