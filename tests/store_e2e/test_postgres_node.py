"""A real node on PostgreSQL: it negotiates with a node on SQLite over mutual TLS to FINALIZED, serves a transfer,
keeps an evidence log that `connector evidence check` finds intact, and its store is copied to an SQLite file and
back to another PostgreSQL database, on which the node carries on."""

from __future__ import annotations

import os

import psycopg
from dataplane_e2e.kit import agree, both, make_pair, pull_all, settle, sha, started, wait_state
from nodekit import acli


def _store(config: str, **keys: str) -> str:
    """`config` with a [store] table of `keys`."""
    return config + "\n[store]\n" + "".join(f'{key} = "{value}"\n' for key, value in keys.items())


def _rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


async def test_a_node_on_postgresql_exchanges_data_and_its_store_moves_between_databases(
    authority, tmp_path, postgres_url, postgres_server
):
    pair = make_pair(authority, tmp_path)
    written = pair.pcfg.read_text()
    pair.pcfg.write_text(_store(written, url=postgres_url))
    data = os.urandom(256 * 1024 + 3)
    (pair.root / "weather.bin").write_bytes(data)

    async with both(pair):
        agreement = await agree(pair, "weather", {"type": "file", "path": "weather.bin"})
        tp = await started(pair, agreement)
        body, seal, _ = await pull_all(pair, tp["id"])
        assert body == data and seal["claims"]["sha256"] == sha(data)
        verdict = await settle(pair, tp["id"], body, seal)
        assert verdict["verified"] is True
        done = await pair.cm.call("POST", f"/v1/transfers/{tp['id']}/complete", None, 200)
        await wait_state(pair.pm, done["providerPid"], "COMPLETED")

        ran = await acli("evidence", "checkpoint", "--config", str(pair.pcfg))
        assert ran.returncode == 0, ran.stdout + ran.stderr
        ran = await acli("evidence", "check", "--config", str(pair.pcfg))
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "in the running node" in ran.stdout and "the log is intact" in ran.stdout, ran.stdout

        # The database ends every connection of the node: what fails meanwhile is answered "not now" and retried.
        database = postgres_url.rsplit("/", 1)[1]
        postgres_server.admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'")
        again = await agree(pair, "weather-again", {"type": "file", "path": "weather.bin"})
        assert again != agreement
        health = await pair.pm.call("GET", "/check/readiness")
        assert health is not None

        refused = await acli("store", "copy", "--to", str(tmp_path / "early.sqlite"), "--config", str(pair.pcfg))
        assert refused.returncode == 2 and "stop it first" in refused.stderr, refused.stderr
        assert not (tmp_path / "early.sqlite").exists()

    # Everything the provider keeps is in PostgreSQL: no SQLite file was made, and the database holds the exchange.
    assert not (tmp_path / "var-provider" / "connector.sqlite").exists()
    assert _rows(postgres_url, "SELECT state FROM negotiations") == [("FINALIZED",), ("FINALIZED",)]
    assert _rows(postgres_url, "SELECT state FROM transfers") == [("COMPLETED",)]
    assert _rows(postgres_url, "SELECT bytes_sent FROM data_flows") == [(len(data),)]
    kinds = {kind for (kind,) in _rows(postgres_url, "SELECT DISTINCT kind FROM evidence_records")}
    assert {"dsp.received", "state.changed", "checkpoint"} <= kinds, kinds
    [(records, head)] = _rows(
        postgres_url,
        "SELECT count(*), (SELECT hash FROM evidence_records ORDER BY seq DESC LIMIT 1) FROM evidence_records",
    )

    # PostgreSQL -> an SQLite file, checked offline there by `connector evidence check`.
    copy = tmp_path / "copy" / "provider.sqlite"
    ran = await acli("store", "copy", "--to", str(copy), "--config", str(pair.pcfg))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"head {head} at seq {records}" in ran.stdout, ran.stdout
    on_sqlite = tmp_path / "provider-on-sqlite.toml"
    on_sqlite.write_text(_store(written, path=str(copy)))
    ran = await acli("evidence", "check", "--config", str(on_sqlite))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "the store file (no node running)" in ran.stdout and f"head {head} at seq {records}" in ran.stdout

    # A target that holds rows is refused, and left as it was.
    ran = await acli("store", "copy", "--to", postgres_url, "--config", str(on_sqlite))
    assert ran.returncode == 2 and "already holds rows" in ran.stderr, ran.stderr

    # The SQLite file -> another PostgreSQL database, where the provider carries on.
    moved = postgres_server.create_database()
    try:
        ran = await acli("store", "copy", "--to", moved, "--config", str(on_sqlite), "--json")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert _rows(moved, "SELECT count(*) FROM evidence_records") == [(records,)]
        pair.pcfg.write_text(_store(written, url=moved))
        async with both(pair):
            again = await agree(pair, "weather-2", {"type": "file", "path": "weather.bin"})
            tp = await started(pair, again)
            body, _, _ = await pull_all(pair, tp["id"])
            assert body == data
            ran = await acli("evidence", "check", "--config", str(pair.pcfg))
            assert ran.returncode == 0 and "the log is intact" in ran.stdout, ran.stdout + ran.stderr
        assert _rows(moved, "SELECT count(*) FROM negotiations") == [(3,)]
        assert _rows(moved, "SELECT count(*) FROM evidence_records")[0][0] > records
    finally:
        postgres_server.drop_database(moved)
