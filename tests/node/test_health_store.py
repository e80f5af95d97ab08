"""The health probe's store check counts the node's own writes, not only its heartbeat: on a full disk a heartbeat
that rewrites its row in place still commits while the node's work, which needs room, is refused."""

from __future__ import annotations

import time

import pytest
from nodekit import get, make_participant, running_node, write_config

from connector.store.errors import StoreUnwritable


def _refused(tx: object) -> None:  # the database's refusal as the store reports it (tests/node/test_full_disk.py: real)
    raise StoreUnwritable("database or disk is full (the store connector.sqlite)")


async def test_writes_refused_for_want_of_room_make_the_store_check_fail_for_a_minute(authority, tmp_path):
    org = make_participant(authority, tmp_path, "org")
    async with running_node(write_config(org, tmp_path)) as node:
        health = f"http://127.0.0.1:{org.management_port}/check/health"
        with pytest.raises(StoreUnwritable):
            await node.store.run(_refused)
        status, body = await get(health)
        assert body["status"] == "degraded" and body["checks"]["store"] == "failing", body
        details = body["details"]["store"]
        assert details.startswith("the store refused the node's writes 0 s ago (small writes still commit)"), details
        assert details.endswith("database or disk is full (the store connector.sqlite)"), details
        await node.store.run(lambda tx: None)  # a write that needs no room does not prove there is room again

        assert (await get(health))[1]["checks"]["store"] == "failing"
        # A minute without such a refusal: the store is taken to be writable again.
        node.store.unwritable = (time.monotonic() - 61, "database or disk is full")  # type: ignore[attr-defined]
        status, body = await get(health)
        assert status == 200 and body["checks"]["store"] == "ok", body
