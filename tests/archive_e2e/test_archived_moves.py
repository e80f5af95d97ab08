"""A node that archived its evidence log, moved the ways an operator moves it: `connector store copy` from SQLite
to PostgreSQL and back, and `connector export --all` / `connector import` into PostgreSQL. Each time the log is
checked through the evidence archives, the node carries on on the new store, and archives again from where the
last archive ended."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dataplane_e2e.kit import Pair, both
from duties_e2e.kit import agreed, duties_pair, duty_policy, offer_file
from nodekit import acli


def _on(config: Path, store: str) -> None:
    """Point the configuration at another store (PostgreSQL by URL, SQLite by path)."""
    text = config.read_text().split("\n[store]\n")[0]
    key = "url" if store.startswith("postgresql://") else "path"
    config.write_text(text + f'\n[store]\n{key} = "{store}"\n')


async def _archive(config: Path) -> dict:
    ran = await acli("evidence", "archive", "--older-than-days", "0", "--config", str(config), "--json")
    assert ran.returncode == 0, ran.stderr + ran.stdout
    return json.loads(ran.stdout)


async def _checked(config: Path, archives: int) -> dict:
    ran = await acli("evidence", "check", "--config", str(config), "--json")
    result = json.loads(ran.stdout)
    assert ran.returncode == 0 and result["ok"] and result["archives"] == archives, ran.stdout + ran.stderr
    return result


async def _carries_on(pair: Pair, archives: int) -> dict:
    """Negotiate on the node as configured, archive once more, and check the log through every archive."""
    async with both(pair):
        await agreed(pair, "tide")
        archived = await _archive(pair.ccfg)
        await _checked(pair.ccfg, archives + 1)
    await _checked(pair.ccfg, archives + 1)  # the node stopped: the store read directly
    return archived


async def test_an_archived_store_copied_to_postgresql_and_back_carries_on_and_archives_again(
    authority, tmp_path, postgres_url, postgres_server
):
    pair = duties_pair(authority, tmp_path)
    async with both(pair):
        await offer_file(pair, "tide", os.urandom(2000), duty_policy({"action": "inform"}, onward=False))
        await agreed(pair, "tide")
        first = await _archive(pair.ccfg)
        await agreed(pair, "tide")

    ran = await acli("store", "copy", "--to", postgres_url, "--config", str(pair.ccfg))
    assert ran.returncode == 0, ran.stderr + ran.stdout
    _on(pair.ccfg, postgres_url)
    await _checked(pair.ccfg, 1)
    second = await _carries_on(pair, 1)
    assert second["first"] == first["last"] + 1 and second["id"] == 2

    back = tmp_path / "back.sqlite"
    ran = await acli("store", "copy", "--to", str(back), "--config", str(pair.ccfg))
    assert ran.returncode == 0, ran.stderr + ran.stdout
    _on(pair.ccfg, str(back))
    await _checked(pair.ccfg, 2)
    third = await _carries_on(pair, 2)
    assert third["first"] == second["last"] + 1 and third["id"] == 3


async def test_an_archived_node_exported_and_imported_into_postgresql_carries_on(authority, tmp_path, postgres_url):
    pair = duties_pair(authority, tmp_path)
    exported = tmp_path / "consumer.archive.zip"
    async with both(pair):
        await offer_file(pair, "tide", os.urandom(2000), duty_policy({"action": "inform"}, onward=False))
        await agreed(pair, "tide")
        first = await _archive(pair.ccfg)
        await agreed(pair, "tide")
        ran = await acli("export", "--all", "--out", str(exported), "--config", str(pair.ccfg))
        assert ran.returncode == 0, ran.stderr + ran.stdout

    # The new installation: the same node (its ports too; the old one is stopped) with an empty data folder.
    moved = tmp_path / "var-pg"
    config = tmp_path / "moved.toml"
    config.write_text(
        pair.ccfg.read_text().replace(f'data_dir = "{tmp_path / "var-consumer"}"', f'data_dir = "{moved}"')
    )
    _on(config, postgres_url)
    pair.ccfg = config
    # A file where the folder of evidence archives goes: said, and nothing restored.
    moved.mkdir()
    (moved / "evidence-archives").write_text("not a folder")
    ran = await acli("import", str(exported), "--config", str(pair.ccfg))
    assert ran.returncode == 1 and "nothing was restored" in ran.stderr and "cannot be written" in ran.stderr, (
        ran.stderr
    )
    (moved / "evidence-archives").unlink()
    # A manifest of another archive under the name of one the node's archive carries: kept, and nothing restored.
    planted = moved / "evidence-archives" / f"{first['file']}.jws"
    planted.parent.mkdir()
    planted.write_text("another node's manifest")
    ran = await acli("import", str(exported), "--config", str(pair.ccfg))
    assert ran.returncode == 1 and "nothing was restored" in ran.stderr and str(planted) in ran.stderr, ran.stderr
    assert [p.name for p in planted.parent.iterdir()] == [planted.name]
    assert planted.read_text() == "another node's manifest"
    planted.unlink()
    ran = await acli("import", str(exported), "--config", str(pair.ccfg), "--json")
    assert ran.returncode == 0, ran.stderr + ran.stdout
    assert json.loads(ran.stdout)["check"]["archives"] == 1
    assert (moved / "evidence-archives" / first["file"]).is_file()
    await _checked(pair.ccfg, 1)
    second = await _carries_on(pair, 1)
    assert second["first"] == first["last"] + 1
