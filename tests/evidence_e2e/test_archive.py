"""Retention: the log's older records move to signed, time-stamped archive files and leave the live store; the
chain is still checked from its first record through the archives, and a missing or altered archive is a break."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from evidence_e2e.kit import open_store
from nodekit import Management, acli, running_node

from connector import keys
from connector.evidence.archive import verify_manifest
from connector.evidence.edge.log_check import check_log
from connector.store.sql import evidence as tables
from connector.store.sqlite import SqliteTx


def _check(exchange, store: Path, folder: Path | None):
    anchors = [keys.load_certificate(exchange.federation.authority.ca_cert_path)]
    conn = open_store(store)
    try:
        return check_log(SqliteTx(conn), exchange.consumer.participant_id, anchors, anchors, datetime.now(UTC), folder)
    finally:
        conn.close()


async def _archived_and_checked(exchange, node, m, folder, anchors):
    before = await m.call("POST", "/v1/evidence/check", {}, 200)
    assert before["ok"] and before["archives"] == 0

    first = await m.call("POST", "/v1/evidence/archives", {"olderThanDays": 0}, 201)
    assert first["first"] == 1 and first["last"] >= before["records"]
    assert await node.store.read(tables.count) < 5  # what followed the archive's checkpoint (its announcement)
    # The archive carries its checkpoint with the TSA's time-stamp; the manifest beside it is the node's.
    document = json.loads(gzip.decompress((folder / first["file"]).read_bytes()))
    anchor = [c for c in document["checkpoints"] if c["id"] == first["checkpoint"]]
    assert anchor and anchor[0]["count"] == first["last"] and anchor[0]["timestamps"]
    assert [r["seq"] for r in document["records"]] == list(range(1, first["last"] + 1))
    manifest = verify_manifest(
        (folder / (first["file"] + ".jws")).read_text(),
        anchors,
        datetime.now(UTC),
        expected_node=exchange.consumer.participant_id,
    )
    assert (manifest.first, manifest.last, manifest.sha256) == (1, first["last"], first["sha256"])

    checked = await m.call("POST", "/v1/evidence/check", {}, 200)
    assert checked["ok"], checked["problems"]
    assert checked["archives"] == 1 and checked["records"] == checked["head"]["count"] > first["last"]
    assert checked["signatures"] == before["signatures"] and checked["checkpoints"] >= before["checkpoints"]

    # The log goes on, and the next archive continues where the first ended.
    await m.call("POST", "/v1/evidence/checkpoints", {}, None)
    second = await m.call("POST", "/v1/evidence/archives", {"olderThanDays": 0}, 201)
    assert second["first"] == first["last"] + 1 and second["last"] > second["first"]
    listed = await m.call("GET", "/v1/evidence/archives", None, 200)
    assert [a["id"] for a in listed["items"]] == [first["id"], second["id"]]
    checked = await m.call("POST", "/v1/evidence/check", {}, 200)
    assert checked["ok"] and checked["archives"] == 2, checked["problems"]

    # An agreement whose records were archived has no bundle from the live log alone: said, not half made.
    refused = await m.call("GET", f"/v1/evidence/agreements/{exchange.agreement}/bundle", None, 410)
    assert refused["code"] == "evidence.archived" and first["file"] not in refused["detail"]
    too_young = await m.call("POST", "/v1/evidence/archives", {"olderThanDays": 3650}, 400)
    assert too_young["code"] == "evidence.nothing_to_archive"
    for bad in ({"olderThanDays": -1}, {"olderThanDays": "0"}, {"olderThanDays": True}):
        answer = await m.call("POST", "/v1/evidence/archives", bad, 400)
        assert answer["code"] == "request.invalid"
    return first


async def test_older_records_move_to_signed_archives_and_the_log_is_checked_through_them(exchange, tmp_path):
    config = exchange.copy_node("consumer", tmp_path)
    folder = tmp_path / "var-consumer" / "evidence-archives"
    store = tmp_path / "var-consumer" / "connector.sqlite"
    anchors = [keys.load_certificate(exchange.federation.authority.ca_cert_path)]
    m = Management(exchange.consumer)
    async with running_node(config) as node:
        await m.call("POST", "/v1/evidence/checkpoints", {}, None)
        refused = await m.call("POST", "/v1/evidence/archives", {"olderThanDays": 0}, 503)  # no TSA to stamp it
        assert refused["code"] == "timestamp.unavailable"
        assert await m.call("GET", "/v1/evidence/archives", None, 200) == {"items": []}
        await exchange.federation.start()  # the time-stamp authority
        try:
            first = await _archived_and_checked(exchange, node, m, folder, anchors)
        finally:
            await exchange.federation.stop()

    assert _check(exchange, store, folder).ok
    ran = await acli("evidence", "check", "--config", str(config))
    assert ran.returncode == 0 and "through 2 archives" in ran.stdout, ran.stdout + ran.stderr
    # A copy of the store starts its chain where the archives end, and is checked through them like the original.
    ran = await acli("store", "copy", "--config", str(config), "--to", str(tmp_path / "copy.sqlite"))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert _check(exchange, tmp_path / "copy.sqlite", folder).ok
    # So is a backup, which names the folder of archives to keep with it.
    backup = tmp_path / "backup.sqlite"
    ran = await acli("store", "backup", "--config", str(config), "--to", str(backup), "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    report = json.loads(ran.stdout)
    assert report["check"]["ok"] and report["check"]["archives"] == 2, report
    assert report["evidenceArchives"] == str(folder)
    ran = await acli("store", "backup", "--config", str(config), "--to", str(tmp_path / "again.sqlite"))
    assert ran.returncode == 0 and f"2 evidence archive(s) in {folder}" in ran.stdout, ran.stdout + ran.stderr
    assert _check(exchange, backup, folder).ok

    # Without its archives, or with one altered, the chain is broken at the first of them.
    missing = _check(exchange, store, None)
    assert not missing.ok and missing.first_break.code == "archive.missing"
    archive = folder / first["file"]
    kept = tmp_path / "kept.json"
    shutil.copy(archive, kept)
    text = gzip.decompress(archive.read_bytes()).replace(b'"kind":"state.changed"', b'"kind":"state.altered"', 1)
    archive.write_bytes(gzip.compress(text, mtime=0))
    altered = _check(exchange, store, folder)
    assert not altered.ok and altered.first_break.code == "archive.altered"
    ran = await acli("evidence", "check", "--config", str(config))
    assert ran.returncode == 1 and "archive.altered" in ran.stdout, ran.stdout + ran.stderr
    shutil.copy(kept, archive)
    assert _check(exchange, store, folder).ok
