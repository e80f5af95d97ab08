"""A store an older version wrote (schema version 12: evidence records kept whole, before they were packed), as the
operator upgrades it: backed up as it is before the new version first starts, refused with a clear error by what
reads it without migrating, migrated when the node starts; then its log, part old and part new, is archived,
backed up, exported and restored into a new installation, and checked each time."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from nodekit import acli, make_participant, running_node, write_config
from oldforms import insert_record_kept_whole

from connector.evidence.chain import GENESIS, ChainHead, next_record
from connector.store.migrations import MIGRATIONS

OLD = 12  # the schema version before records were packed and their `prev` read from the record before


def _old_store(path: Path, records: int) -> None:
    """A store at schema version OLD holding `records` evidence records, kept as that version kept them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        for migration in MIGRATIONS[:OLD]:
            conn.executescript(migration.script("sqlite"))
            conn.execute(
                "INSERT INTO schema_history(version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description, "2026-01-01T00:00:00+00:00"),
            )
            conn.execute(f"PRAGMA user_version={migration.version}")
        head = ChainHead(0, GENESIS)
        for n in range(1, records + 1):
            record = next_record(head, f"2026-01-01T00:00:{n:02d}.000000Z", "x.y", "p", None, None, {"n": n})
            insert_record_kept_whole(conn.execute, record)
            head = record.head
        conn.commit()
    finally:
        conn.close()


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


async def test_an_older_store_is_backed_up_as_it_is_then_migrated_archived_and_moved(authority, tmp_path):
    participant = make_participant(authority, tmp_path, "org-a")
    config = write_config(participant, tmp_path)
    store = tmp_path / "var-org-a" / "connector.sqlite"
    _old_store(store, 5)

    # Before the new version first starts: a backup is the store as the older version wrote it (what that version
    # restores); this program cannot read that version's log, and says so instead of failing.
    before = tmp_path / "before-upgrade.sqlite"
    ran = await acli("store", "backup", "--to", str(before), "--config", str(config))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "schema version 12" in ran.stdout and "older" in ran.stdout, ran.stdout
    assert _version(before) == OLD and _version(store) == OLD
    # What reads the store without migrating it refuses it with the versions, not a database error.
    ran = await acli("export", "--all", "--out", str(tmp_path / "early.zip"), "--config", str(config))
    assert ran.returncode == 2 and "schema version 12" in ran.stderr, ran.stdout + ran.stderr
    assert "`connector store migrate`" in ran.stderr and not (tmp_path / "early.zip").exists()
    ran = await acli("store", "copy", "--to", str(tmp_path / "early.sqlite"), "--config", str(config))
    assert ran.returncode == 2 and "`connector store migrate`" in ran.stderr, ran.stdout + ran.stderr
    assert _version(store) == OLD and not (tmp_path / "early.sqlite").exists()

    async with running_node(config):  # migrates the store
        # The records the older version kept whole go to an archive, then the new ones that follow them.
        spans = []
        for _ in range(2):
            ran = await acli("evidence", "archive", "--older-than-days", "0", "--config", str(config), "--json")
            assert ran.returncode == 0, ran.stdout + ran.stderr
            spans.append((json.loads(ran.stdout)["first"], json.loads(ran.stdout)["last"]))
        assert spans[0] == (1, 5) and spans[1][0] == 6, spans
        ran = await acli("evidence", "check", "--config", str(config))
        assert ran.returncode == 0 and "through 2 archives" in ran.stdout, ran.stdout + ran.stderr
        ran = await acli("store", "backup", "--to", str(tmp_path / "after.sqlite"), "--config", str(config), "--json")
        assert ran.returncode == 0 and json.loads(ran.stdout)["check"]["archives"] == 2, ran.stdout + ran.stderr
        exported = tmp_path / "org-a.archive.zip"
        ran = await acli("export", "--all", "--out", str(exported), "--config", str(config))
        assert ran.returncode == 0, ran.stdout + ran.stderr
    assert _version(store) == MIGRATIONS[-1].version

    moved = tmp_path / "moved.toml"
    moved.write_text(config.read_text().replace(f'data_dir = "{store.parent}"', f'data_dir = "{tmp_path / "moved"}"'))
    ran = await acli("import", str(exported), "--config", str(moved), "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert json.loads(ran.stdout)["check"]["archives"] == 2
    ran = await acli("evidence", "check", "--config", str(moved))
    assert ran.returncode == 0 and "through 2 archives" in ran.stdout, ran.stdout + ran.stderr
