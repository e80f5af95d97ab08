"""`connector store backup`: a running node's SQLite store copied while it works, restored into a fresh folder,
where `connector evidence check` verifies it and a node starts on it with everything it had."""

from __future__ import annotations

import asyncio
import json
import shutil

from cli.kit import assert_one_line_error, run
from nodekit import Management, acli, make_participant, running_node, write_config


async def test_a_running_nodes_store_is_backed_up_restored_and_verified(authority, tmp_path):
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    pcfg, ccfg = write_config(provider, tmp_path), write_config(consumer, tmp_path)
    backup = tmp_path / "backups" / "provider.sqlite"
    backup.parent.mkdir()
    async with running_node(pcfg), running_node(ccfg):
        pm, cm = Management(provider), Management(consumer)
        first = await cm.negotiate(provider, await pm.offer("weather"), "weather")
        assert first["state"] == "FINALIZED", first
        # The backup runs while the node goes on working (another negotiation at the same time).
        second = asyncio.ensure_future(cm.negotiate(provider, await pm.offer("rain"), "rain"))
        backed_up = await acli("store", "backup", "--to", str(backup), "--config", str(pcfg), "--json")
        assert (await second)["state"] == "FINALIZED"
    assert backed_up.returncode == 0, backed_up
    report = json.loads(backed_up.stdout)
    assert report["backedUp"] and report["check"]["ok"], report
    assert report["check"]["records"] > 10 and report["schemaVersion"] > 0, report
    assert not list(backup.parent.glob(".*partial")), "no temporary file is left"

    # Restore: a fresh folder holding the copy where the configuration expects the store.
    fresh = tmp_path / "restored"
    fresh.mkdir()
    shutil.copyfile(backup, fresh / "connector.sqlite")
    restored = tmp_path / "restored.toml"
    restored.write_text(pcfg.read_text().replace(str(tmp_path / "var-provider"), str(fresh)))
    checked = await acli("evidence", "check", "--config", str(restored), "--json")
    assert checked.returncode == 0, checked
    check = json.loads(checked.stdout)
    assert check["ok"] and check["offline"], check
    assert check["records"] == report["check"]["records"] and check["head"] == report["check"]["head"]

    async with running_node(restored):
        agreement = await Management(provider).call("GET", f"/v1/agreements/{first['agreementId']}", None, 200)
        assert agreement["finalized"], agreement


def test_a_backup_never_overwrites_and_a_postgresql_store_is_pointed_at_its_own_tools(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    config = write_config(p, tmp_path)
    existing = tmp_path / "exists.sqlite"
    existing.write_bytes(b"keep me")
    (tmp_path / "var-org-a").mkdir()
    (tmp_path / "var-org-a" / "connector.sqlite").write_bytes(b"")
    result = run("store", "backup", "--to", str(existing), "--config", str(config))
    assert_one_line_error(result, "exists already", "--to")
    assert existing.read_bytes() == b"keep me"

    pg = tmp_path / "pg.toml"
    pg.write_text(
        config.read_text().replace("[log]", '[store]\nurl = "postgresql://node@db.example/connector"\n\n[log]')
    )
    result = run("store", "backup", "--to", str(tmp_path / "new.sqlite"), "--config", str(pg))
    assert_one_line_error(result, "PostgreSQL", "pg_dump", "store.url")
