"""A store that fails for a while (here: SQLite refusing every write, as a read-only or full database does) is a
passing failure: a step it failed is taken again once it works, and peers are told "not now" (503) meanwhile;
nothing needs a restart."""

import logging

from nodekit import Management, make_participant, running_node, wait_for, write_config

from connector.store.sql import processes as repo

WEATHER_OFFER = """
[dsp]
retry_initial = 0.05
retry_max = 0.3

[[assets]]
id = "weather"
source = {type = "http", url = "http://127.0.0.1:9/data"}
[[policies]]
id = "weather-contract"
policy = {permission = [{action = "use"}]}
[[offers]]
id = "weather-offer"
asset = "weather"
contract_policy = "weather-contract"
"""


def _pair(authority, tmp_path):
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    return (
        provider,
        consumer,
        write_config(provider, tmp_path, extra=WEATHER_OFFER),
        write_config(consumer, tmp_path, extra=WEATHER_OFFER),
    )


def _writes(store, allowed: bool):
    """SQLite's own switch: with query_only on, every write (and every BEGIN IMMEDIATE) fails as on a read-only
    database. It is a setting of the connection, so it is flipped from a read, which the store still serves."""
    return store.read(lambda tx: tx.execute(f"PRAGMA query_only={0 if allowed else 1}"))


async def _negotiate(cm: Management, provider) -> str:
    neg = await cm.call(
        "POST",
        "/v1/negotiations",
        {
            "counterPartyAddress": f"https://localhost:{provider.protocol_port}/dsp/2025-1",
            "counterPartyId": provider.participant_id,
            "offerId": "weather-offer",
            "datasetId": "weather",
        },
        201,
    )
    return neg["id"]


async def test_a_step_the_store_failed_is_taken_again_once_the_store_works(authority, tmp_path, caplog):
    provider, consumer, pcfg, ccfg = _pair(authority, tmp_path)
    async with running_node(pcfg), running_node(ccfg) as cnode:
        caplog.set_level(logging.WARNING, logger="connector.control")
        runner = cnode.control.runner
        perform = runner.perform
        failed: list[str] = []

        def store_fails_at_verify(tx, kind, pid):
            record = repo.get_negotiation(tx, pid)
            if record is not None and record.pending == "verify" and not failed:
                failed.append(pid)
                tx.execute("PRAGMA query_only=1")  # from here on, SQLite refuses this step's writes
            return perform(tx, kind, pid)

        runner.perform = store_fails_at_verify
        cm = Management(consumer)
        negotiation_id = await _negotiate(cm, provider)
        await wait_for(lambda: failed, timeout=10)
        await wait_for(lambda: sum("step postponed" in r.getMessage() for r in caplog.records) >= 3, timeout=10)
        held = await cnode.store.read(repo.get_negotiation, negotiation_id)
        assert str(held.state) == "AGREED" and held.pending == "verify", held
        await _writes(cnode.store, allowed=True)
        done = await cm.call("GET", f"/v1/negotiations/{negotiation_id}?wait=FINALIZED,TERMINATED&timeout=20")
    assert done["state"] == "FINALIZED", done


async def test_a_peer_is_answered_503_while_the_store_fails_and_its_retry_lands_afterwards(authority, tmp_path, caplog):
    provider, consumer, pcfg, ccfg = _pair(authority, tmp_path)
    async with running_node(pcfg) as pnode, running_node(ccfg):
        caplog.set_level(logging.INFO, logger="connector.control")
        await _writes(pnode.store, allowed=False)
        cm = Management(consumer)
        negotiation_id = await _negotiate(cm, provider)

        def refusals():
            return [
                r.error for r in caplog.records if r.getMessage() == "delivery retry" and "store.unavailable" in r.error
            ]

        await wait_for(lambda: len(refusals()) >= 2, timeout=10)
        assert all(" answered 503" in error for error in refusals()), refusals()
        pending = await cm.call("GET", f"/v1/negotiations/{negotiation_id}", None, 200)
        assert pending["state"] == "REQUESTED", pending
        await _writes(pnode.store, allowed=True)
        done = await cm.call("GET", f"/v1/negotiations/{negotiation_id}?wait=FINALIZED,TERMINATED&timeout=20")
    assert done["state"] == "FINALIZED", done
