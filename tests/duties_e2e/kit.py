"""What the usage-duty tests share: a provider offering a file under duties, a consumer whose data root is where
it writes what it receives, and the moves between them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from dataplane_e2e.kit import Pair, make_pair, wait_state
from nodekit import Management, acli, wait_for


def delete_within(duration: str) -> dict[str, Any]:
    """A delete duty as ODRL spells it in full."""
    return {
        "action": "odrl:delete",
        "constraint": [
            {
                "leftOperand": "odrl:elapsedTime",
                "operator": "odrl:lteq",
                "rightOperand": {"@value": duration, "@type": "xsd:duration"},
            }
        ],
    }


def duty_policy(*duties: dict[str, Any], onward: bool = True) -> dict[str, Any]:
    policy: dict[str, Any] = {"permission": [{"action": "use", "duty": list(duties)}]}
    if not onward:
        policy["prohibition"] = [{"action": "http://www.w3.org/ns/odrl/2/distribute"}]
    return policy


def duties_pair(authority: Any, tmp_path: Path, consumer_extra: str = "") -> Pair:
    """A pair whose consumer has a data root (`consumer-data`) of its own, with room for its downloads."""
    pair = make_pair(authority, tmp_path)
    (tmp_path / "consumer-data").mkdir()
    if consumer_extra:
        pair.ccfg.write_text(pair.ccfg.read_text() + consumer_extra)
    return pair


async def offer_file(pair: Pair, asset_id: str, data: bytes, policy: dict[str, Any]) -> None:
    (pair.root / f"{asset_id}.bin").write_bytes(data)
    pm = pair.pm
    await pm.call(
        "POST",
        "/v1/assets",
        {
            "id": asset_id,
            "source": {"type": "file", "path": f"{asset_id}.bin"},
            "formats": ["HttpData-PULL", "HttpData-PUSH"],
        },
        201,
    )
    await pm.call("POST", "/v1/policies", {"id": f"{asset_id}-terms", "policy": policy}, 201)
    await pm.call(
        "POST",
        "/v1/offers",
        {"id": f"{asset_id}-offer", "assetId": asset_id, "contractPolicyId": f"{asset_id}-terms"},
        201,
    )


async def agreed(pair: Pair, asset_id: str) -> str:
    neg = await pair.cm.negotiate(pair.provider, f"{asset_id}-offer", asset_id)
    assert neg["state"] == "FINALIZED", neg
    return str(neg["agreementId"])


async def pulled(pair: Pair, agreement: str, out: Path) -> str:
    """`connector transfer` into `out`; returns the consumer's transfer id (COMPLETED)."""
    ran = await acli("transfer", agreement, "--out", str(out), "--config", str(pair.ccfg), "--json", "--quiet")
    assert ran.returncode == 0, ran.stderr + ran.stdout
    import json

    result = json.loads(ran.stdout)
    assert result["completed"] is True, result
    await wait_state(pair.cm, result["transferId"], "COMPLETED")
    return str(result["transferId"])


async def duties_of(m: Management, agreement: str) -> dict[str, Any]:
    return await m.call("GET", f"/v1/agreements/{agreement}/duties", None, 200)


async def receipts_at(m: Management, agreement: str, wanted: int, timeout: float = 15) -> list[dict[str, Any]]:
    """The receipts a node holds about `agreement` once it holds `wanted` of them."""
    found: list[dict[str, Any]] = []

    async def enough() -> bool:
        found[:] = (await duties_of(m, agreement))["receipts"]
        return len(found) >= wanted

    await wait_for(enough, timeout, 0.1)
    return found


async def settle(seconds: float) -> None:
    await asyncio.sleep(seconds)
