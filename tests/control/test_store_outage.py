"""A store that fails for a while (here: SQLite refusing every write, as a read-only or full database does) is a
passing failure: a step it failed is taken again once it works, and peers are told "not now" (503) meanwhile;
nothing needs a restart."""

import logging

from nodekit import Management, dsp_settings, offered_weather, provider_and_consumer, running_node, wait_for

from connector.store.sql import processes as repo

SETTINGS = dsp_settings(retry_initial=0.05, retry_max=0.3) + offered_weather()


def _writes(store, allowed: bool):
    """SQLite's own switch: with query_only on, every write (and every BEGIN IMMEDIATE) fails as on a read-only
    database. It is a setting of the connection, so it is flipped from a read, which the store still serves."""
    return store.read(lambda tx: tx.execute(f"PRAGMA query_only={0 if allowed else 1}"))


async def test_a_step_the_store_failed_is_taken_again_once_the_store_works(authority, tmp_path, caplog):
    provider, consumer, pcfg, ccfg = provider_and_consumer(authority, tmp_path, SETTINGS, SETTINGS)
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
        negotiation_id = await cm.start_negotiation(provider)
        await wait_for(lambda: failed, timeout=10)
        await wait_for(lambda: sum("step postponed" in r.getMessage() for r in caplog.records) >= 3, timeout=10)
        held = await cnode.store.read(repo.get_negotiation, negotiation_id)
        assert str(held.state) == "AGREED" and held.pending == "verify", held
        await _writes(cnode.store, allowed=True)
        done = await cm.await_negotiation(negotiation_id)
    assert done["state"] == "FINALIZED", done


async def test_a_peer_is_answered_503_while_the_store_fails_and_its_retry_lands_afterwards(authority, tmp_path, caplog):
    provider, consumer, pcfg, ccfg = provider_and_consumer(authority, tmp_path, SETTINGS, SETTINGS)
    async with running_node(pcfg) as pnode, running_node(ccfg):
        caplog.set_level(logging.INFO, logger="connector.control")
        await _writes(pnode.store, allowed=False)
        cm = Management(consumer)
        negotiation_id = await cm.start_negotiation(provider)

        def refusals():
            return [
                r.error for r in caplog.records if r.getMessage() == "delivery retry" and "store.unavailable" in r.error
            ]

        await wait_for(lambda: len(refusals()) >= 2, timeout=10)
        assert all(" answered 503" in error for error in refusals()), refusals()
        pending = await cm.call("GET", f"/v1/negotiations/{negotiation_id}", None, 200)
        assert pending["state"] == "REQUESTED", pending
        await _writes(pnode.store, allowed=True)
        done = await cm.await_negotiation(negotiation_id)
    assert done["state"] == "FINALIZED", done
