"""A node never starts afresh by accident: the store it keeps its state in is recorded in its data folder, and a
store that is gone, empty, another one, damaged or newer than the program stops the start with an error naming
it; `connector serve --initialise` is how an operator says that a new, empty store is meant."""

from __future__ import annotations

import json
import sqlite3

import pytest
from cli.kit import assert_one_line_error, run
from nodekit import make_participant, write_config

from connector.config import load_config
from connector.errors import ConnectorError
from connector.node.store_identity import MARKER
from connector.node.wiring import running
from connector.store.sql.settings import get_setting
from connector.store.sqlite import SqliteStore

pytestmark = pytest.mark.e2e  # nodes start (in this process)


@pytest.fixture
def node(authority, tmp_path):
    participant = make_participant(authority, tmp_path, "org")
    path = write_config(participant, tmp_path)
    return load_config(path, environ={}), path


async def _start(config, **kw) -> str:
    """Start the node and stop it again; the id of the store it used."""
    async with running(config, **kw) as node:
        return await node.store.read(get_setting, "store.id")


async def _refused(config, **kw) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        async with running(config, **kw):
            pass
    return err.value


async def test_the_first_start_records_the_store_and_later_starts_find_it(node):
    config, _ = node
    first = await _start(config)
    marker = json.loads((config.node.data_dir / MARKER).read_text())
    assert marker["storeId"] == first and first.startswith("urn:uuid:")
    assert marker["store"] == str(config.store_path) and marker["participantId"] == config.node.participant_id
    assert await _start(config) == first


@pytest.mark.parametrize("how", ["deleted", "emptied"])
async def test_a_store_that_is_gone_stops_the_start_unless_a_new_one_is_meant(node, how):
    config, _ = node
    first = await _start(config)
    for suffix in ("", "-wal", "-shm"):
        config.store_path.with_name(config.store_path.name + suffix).unlink(missing_ok=True)
    if how == "emptied":
        config.store_path.write_bytes(b"")
    error = await _refused(config)
    assert error.code == "store.gone" and error.where == "store.path", error
    assert str(config.store_path) in error.reason and first in error.reason and "--initialise" in error.reason
    assert not config.store_path.exists() or config.store_path.stat().st_size == 0  # nothing was created
    fresh = await _start(config, initialise=True)
    assert fresh != first
    assert json.loads((config.node.data_dir / MARKER).read_text())["storeId"] == fresh
    assert await _start(config) == fresh


async def test_another_store_in_its_place_stops_the_start(node, authority, tmp_path):
    config, _ = node
    await _start(config)
    other = make_participant(authority, tmp_path, "other")
    other_config = load_config(write_config(other, tmp_path), environ={})
    other_id = await _start(other_config)
    config.store_path.unlink()
    config.store_path.write_bytes(other_config.store_path.read_bytes())
    error = await _refused(config)
    assert error.code == "store.mismatch" and other_id in error.reason and MARKER in error.reason, error
    error = await _refused(config, initialise=True)  # --initialise never replaces a store that holds data
    assert error.code == "store.mismatch"


async def test_a_damaged_store_stops_the_start(node):
    config, _ = node
    await _start(config)
    data = bytearray(config.store_path.read_bytes())
    assert len(data) > 4 * 4096
    data[2 * 4096 : 3 * 4096] = b"\xa5" * 4096  # a page of the schema's tables overwritten
    config.store_path.write_bytes(bytes(data))
    error = await _refused(config)
    assert error.code == "store.damaged" and str(config.store_path) in error.reason, error
    assert "backup" in error.reason


async def test_a_store_newer_than_the_program_is_refused_by_name(node):
    config, path = node
    await _start(config)
    with sqlite3.connect(config.store_path) as conn:
        conn.execute("PRAGMA user_version=999")
    result = run("serve", "--config", str(path))
    assert_one_line_error(result, str(config.store_path), "schema version 999", "newer than this program")


def test_connector_serve_says_how_to_begin_anew_and_begins_anew_when_told(node):
    config, path = node
    result = run("serve", "--config", str(path), "--initialise", "--help")
    assert result.returncode == 0 and "--initialise" in result.stdout
    config.node.data_dir.mkdir(parents=True)
    (config.node.data_dir / MARKER).write_text(
        json.dumps(
            {"storeId": "urn:uuid:x", "participantId": "p", "store": str(config.store_path), "recordedAt": "then"}
        )
    )
    result = run("serve", "--config", str(path))
    assert_one_line_error(result, "store.path", str(config.store_path), "is missing or empty", "--initialise")


async def test_store_errors_name_the_store(tmp_path):
    store = SqliteStore(tmp_path / "named.sqlite")
    await store.open()
    try:
        await store.read(lambda tx: tx.execute("PRAGMA query_only=1"))
        with pytest.raises(Exception) as err:
            await store.run(lambda tx: tx.execute("INSERT INTO settings(key, value) VALUES ('a', 'b')"))
        assert str(tmp_path / "named.sqlite") in str(err.value) and "readonly" in str(err.value)
    finally:
        await store.close()
    with pytest.raises(ConnectorError) as closed:
        await store.read(get_setting, "a")
    assert closed.value.code == "store.closed" and "named.sqlite" in closed.value.reason


async def test_a_postgresql_store_that_is_empty_now_stops_the_start(node, postgres_server, postgres_url):
    config, path = node
    path.write_text(path.read_text() + f'\n[store]\nurl = "{postgres_url}"\n')
    config = load_config(path, environ={})
    first = await _start(config)
    replacement = postgres_server.create_database()
    try:
        path.write_text(path.read_text().replace(postgres_url, replacement))
        config = load_config(path, environ={})
        error = await _refused(config)
        assert error.code == "store.gone" and error.where == "store.url" and first in error.reason, error
        assert await _start(config, initialise=True) != first
    finally:
        postgres_server.drop_database(replacement)
