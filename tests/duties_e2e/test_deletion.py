"""Delete after a period, inform on each use: the consumer's node does both, signs a receipt for each, and the
provider's node holds them; the deletion is a step kept in the store, carried out after a restart too."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from dataplane_e2e.kit import both, started
from duties_e2e.kit import agreed, delete_within, duties_of, duty_policy, offer_file, pulled, receipts_at
from nodekit import acli, running_node, wait_for


async def test_received_data_is_deleted_when_due_and_each_duty_is_receipted_on_both_sides(pair):
    data = os.urandom(300_000)
    out = pair.tmp / "consumer-data" / "weather.bin"
    async with both(pair) as (provider, consumer):
        await offer_file(pair, "weather", data, duty_policy(delete_within("PT6S"), {"action": "odrl:inform"}))
        agreement = await agreed(pair, "weather")
        transfer = await pulled(pair, agreement, out)
        assert out.read_bytes() == data

        view = await duties_of(pair.cm, agreement)
        assert view["role"] == "consumer" and view["duties"]["inform"] is True
        assert view["duties"]["owed"] == [
            "delete the data received within PT6S of the agreement",
            "inform the provider of each use",
        ]
        [received] = view["received"]
        assert received["transferId"] == transfer and received["file"] == str(out.resolve())
        assert received["deleteDueAt"] is not None and received["deletedAt"] is None
        # The notice of this use reaches the provider, which verified and recorded it.
        [notice] = await receipts_at(pair.pm, agreement, 1)
        assert (notice["direction"], notice["duty"], notice["outcome"]) == ("received", "inform", "used")
        tp = await pair.cm.call("GET", f"/v1/transfers/{transfer}", None, 200)
        assert notice["transferId"] == tp["providerPid"]

        await wait_for(lambda: not out.exists(), 15, 0.1)
        receipts = await receipts_at(pair.cm, agreement, 2)
        deletion = next(r for r in receipts if r["duty"] == "delete")
        assert deletion["outcome"] == "deleted" and not deletion["late"] and deletion["direction"] == "issued"
        assert "deleted the data of transfer" in deletion["statement"]
        [received] = (await duties_of(pair.cm, agreement))["received"]
        assert received["deletion"] == "deleted" and received["deletedAt"] is not None
        held = await receipts_at(pair.pm, agreement, 2)
        assert {r["duty"] for r in held} == {"inform", "delete"}
        await wait_for(lambda: _delivered(pair, agreement), 10, 0.1)
        history = await pair.cm.call("GET", f"/v1/transfers/{transfer}", None, 200)
        causes = [h["cause"] for h in history["history"]]
        assert "duties owed" in causes and "duty fulfilled: delete" in causes
        provider_history = await pair.pm.call("GET", f"/v1/transfers/{tp['providerPid']}", None, 200)
        assert "receipt received: delete" in [h["cause"] for h in provider_history["history"]]

        shown = await acli("duties", agreement, "--config", str(pair.ccfg))
        assert shown.returncode == 0, shown.stderr
        assert "duties: delete the data received within PT6S of the agreement; inform the provider" in shown.stdout
        assert f"into {out.resolve()}, deleted at" in shown.stdout and "(deleted)" in shown.stdout
        assert "receipt (issued): " in shown.stdout and "[delivered]" in shown.stdout
        fetched = await acli("duties", agreement, "--fetch", "--json", "--config", str(pair.pcfg))
        assert fetched.returncode == 0, fetched.stderr
        assert json.loads(fetched.stdout)["fetched"]["received"] == 2
        listed = await acli("received", "--config", str(pair.ccfg))
        assert agreement in listed.stdout and "deleted at" in listed.stdout


async def _delivered(pair, agreement: str) -> bool:
    receipts = (await duties_of(pair.cm, agreement))["receipts"]
    return len(receipts) == 2 and all(r["delivery"] == "delivered" for r in receipts)


async def test_the_deletion_is_carried_out_after_a_restart_and_a_pushed_copy_is_deleted_too(pair):
    data = os.urandom(50_000)
    async with both(pair):
        await offer_file(pair, "rain", data, duty_policy(delete_within("PT5S")))
        agreement = await agreed(pair, "rain")
        agreed_at = time.monotonic()
        tp = await started(pair, agreement, "HttpData-PUSH")
        kept: list[dict] = []

        async def recorded() -> bool:
            kept[:] = (await duties_of(pair.cm, agreement))["received"]
            return bool(kept)

        await wait_for(recorded, 15, 0.05)
        pushed = Path(kept[0]["file"])
        assert pushed.parent == pair.inbox.resolve() and kept[0]["transferId"] == tp["id"]
    assert pushed.read_bytes() == data  # the consumer stopped before the deletion was due
    assert time.monotonic() - agreed_at < 5, "too slow to test a restart before the deadline"
    async with running_node(pair.ccfg):
        await wait_for(lambda: not pushed.exists(), 15, 0.1)
        async with running_node(pair.pcfg):
            receipts = await receipts_at(pair.cm, agreement, 1)
    [deletion] = receipts
    assert deletion["transferId"] == tp["id"] and deletion["outcome"] == "deleted" and not deletion["late"]
