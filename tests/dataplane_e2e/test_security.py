"""Who may take data, and what can never be served: tokens after the end, tokens in the wrong hands, paths out
of the root, SQL that writes."""

from __future__ import annotations

import os
import sqlite3

import aiohttp
import pytest
from dataplane_e2e.kit import access, agree, both, fetch, started, wait_state
from nodekit import make_participant

from connector import jws
from connector.keys import load_private_key


async def test_a_token_replayed_after_termination_is_refused(pair):
    (pair.root / "a.bin").write_bytes(os.urandom(100_000))
    async with both(pair):
        tp = await started(pair, await agree(pair, "a", {"type": "file", "path": "a.bin"}))
        info = await access(pair, tp["id"])
        assert (await fetch(info["endpoint"], pair.consumer, info["authorization"])).status == 200
        await pair.cm.call("POST", f"/v1/transfers/{tp['id']}/terminate", {"reason": "changed my mind"}, 200)
        await wait_state(pair.pm, tp["providerPid"], "TERMINATED")
        replay = await fetch(info["endpoint"], pair.consumer, info["authorization"])
        assert replay.status == 410 and replay.json()["code"] == "dataplane.ended"
        seal = await fetch(info["sealEndpoint"], pair.consumer, info["authorization"])
        assert seal.status == 410
        fresh = await pair.cm.call("POST", f"/v1/transfers/{tp['id']}/token")
        assert fresh["status"] == 409 and "TERMINATED" in fresh["detail"]


async def test_a_token_presented_with_another_participants_certificate_is_refused(pair, authority, other_authority):
    (pair.root / "b.bin").write_bytes(os.urandom(10_000))
    intruder = make_participant(authority, pair.tmp, "intruder")
    stranger = make_participant(other_authority, pair.tmp, "stranger")
    async with both(pair):
        tp = await started(pair, await agree(pair, "b", {"type": "file", "path": "b.bin"}))
        info = await access(pair, tp["id"])
        stolen = await fetch(info["endpoint"], intruder, info["authorization"])
        assert stolen.status == 403 and stolen.json()["code"] == "token.wrong_holder"
        refresh = await fetch(info["endpoint"] + "/token", intruder, None, method="POST")
        assert refresh.status == 403
        with pytest.raises(aiohttp.ClientError):  # another federation's certificate: no handshake at all
            await fetch(info["endpoint"], stranger, info["authorization"], headers={})
        # The rightful consumer still pulls with the very same token.
        assert (await fetch(info["endpoint"], pair.consumer, info["authorization"])).status == 200


async def test_missing_forged_and_foreign_tokens_are_refused(pair):
    (pair.root / "c.bin").write_bytes(b"x" * 1000)
    async with both(pair):
        tp = await started(pair, await agree(pair, "c", {"type": "file", "path": "c.bin"}))
        info = await access(pair, tp["id"])
        missing = await fetch(info["endpoint"], pair.consumer, None)
        assert missing.status == 401 and missing.headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert (await fetch(info["endpoint"], pair.consumer, "not-a-token")).status == 401
        # The same claims signed by the consumer's own key are not the provider's token.
        header, payload, _ = info["authorization"].split(".")
        forged = jws.sign_compact(
            load_private_key(pair.consumer.dir / "signing.key.pem"),
            jws.read_payload_unverified(info["authorization"]),
            {"typ": "dataplane-pull+jwt"},
        )
        refused = await fetch(info["endpoint"], pair.consumer, forged)
        assert refused.status == 401 and refused.json()["code"] == "token.signature"
        other = await fetch(info["endpoint"].rsplit("/", 1)[0] + "/urn:uuid:nope", pair.consumer, info["authorization"])
        assert other.status in (403, 404)


async def test_paths_out_of_the_data_root_are_refused_at_the_api_and_at_the_pull(pair, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the provider's private key, say")
    (pair.root / "escape").symlink_to(secret)
    async with both(pair):
        for path in ("../secret.txt", "/etc/passwd", "a/../../secret.txt", "a/./b", "", "a\x00b"):
            answer = await pair.pm.call("POST", "/v1/assets", {"id": "x", "source": {"type": "file", "path": path}})
            assert answer["status"] == 400 and answer["code"] == "asset.invalid_source", (path, answer)
        tp = await started(pair, await agree(pair, "escape", {"type": "file", "path": "escape"}))
        info = await access(pair, tp["id"])
        got = await fetch(info["endpoint"], pair.consumer, info["authorization"])
        assert got.status >= 400 and b"private key" not in got.body
        assert got.json()["code"].startswith("source.file.")
        traversal = await fetch(info["endpoint"] + "/../../etc/passwd", pair.consumer, info["authorization"])
        assert traversal.status == 404 and b"root:" not in traversal.body


async def test_sql_that_tries_to_write_is_refused_and_changes_nothing(pair):
    with sqlite3.connect(pair.root / "w.sqlite") as db:
        db.execute("CREATE TABLE t (v INTEGER)")
        db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    async with both(pair):
        for n, query in enumerate(
            (
                "DELETE FROM t",
                "INSERT INTO t VALUES (99)",
                "DROP TABLE t",
                "SELECT * FROM t; DELETE FROM t",
                "ATTACH DATABASE 'x.sqlite' AS x",
                "VACUUM INTO 'copy.sqlite'",
                "PRAGMA journal_mode=DELETE",
            )
        ):
            tp = await started(
                pair, await agree(pair, f"w{n}", {"type": "sql", "database": "w.sqlite", "query": query})
            )
            info = await access(pair, tp["id"])
            got = await fetch(info["endpoint"], pair.consumer, info["authorization"])
            assert got.status >= 400 and got.json()["code"] in ("source.sql.not_read_only", "source.sql.invalid"), (
                query,
                got,
            )
    with sqlite3.connect(pair.root / "w.sqlite") as db:
        assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 10
    assert not (pair.root / "copy.sqlite").exists() and not (pair.root / "x.sqlite").exists()


async def test_an_expired_token_is_refused_and_a_fresh_one_works(pair):
    # Long enough that a fresh token is still valid when a busy machine gets round to using it.
    pair.pcfg.write_text(pair.pcfg.read_text().replace("[data]\n", "[data]\ntoken_lifetime = 3\n"))
    (pair.root / "d.bin").write_bytes(b"d" * 5000)
    async with both(pair):
        tp = await started(pair, await agree(pair, "d", {"type": "file", "path": "d.bin"}))
        info = await access(pair, tp["id"])
        import asyncio

        await asyncio.sleep(3.2)
        late = await fetch(info["endpoint"], pair.consumer, info["authorization"])
        assert late.status == 401 and late.json()["code"] == "token.expired"
        fresh = await access(pair, tp["id"])
        assert fresh["authorization"] != info["authorization"]
        assert (await fetch(fresh["endpoint"], pair.consumer, fresh["authorization"])).body == b"d" * 5000
        old = await fetch(info["endpoint"], pair.consumer, info["authorization"])
        assert old.status == 401


@pytest.mark.parametrize("database", ["../var-provider/connector.sqlite", "/etc/passwd", "sub/../../x.sqlite"])
async def test_a_sql_asset_cannot_name_a_database_outside_the_data_root(pair, database):
    async with both(pair):
        problem = await pair.pm.call(
            "POST",
            "/v1/assets",
            {"id": "store", "source": {"type": "sql", "database": database, "query": "SELECT * FROM negotiations"}},
            400,
        )
    assert problem["code"] == "asset.invalid_source" and problem["where"] == "source.database", problem
    assert "database path" in problem["detail"]


async def test_the_nodes_own_store_is_never_served_even_below_the_data_root(pair):
    async with both(pair) as (pnode, _):
        store = pnode.config.store_path
        os.link(store, pair.root / "store-copy.sqlite")  # the same file, under the root
        tp = await started(
            pair,
            await agree(pair, "s", {"type": "sql", "database": "store-copy.sqlite", "query": "SELECT 1 AS one"}),
        )
        info = await access(pair, tp["id"])
        refused = await fetch(info["endpoint"], pair.consumer, info["authorization"])
        assert refused.status >= 400 and refused.json()["code"] == "source.sql.forbidden", refused.json()


async def test_an_asset_below_a_data_root_the_node_does_not_configure_is_refused_at_the_api(pair):
    async with both(pair):  # the provider configures [data] root alone ('default')
        for source in (
            {"type": "file", "path": "weather.csv", "root": "archive"},
            {"type": "sql", "database": "w.sqlite", "root": "archive", "query": "SELECT 1"},
        ):
            problem = await pair.pm.call("POST", "/v1/assets", {"id": "x", "source": source}, 400)
            assert problem["code"] == "asset.no_data_root" and problem["where"] == "source.root", problem
            assert "no data root named 'archive' is configured on this node (configured: default)" in problem["detail"]
