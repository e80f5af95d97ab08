"""Evidence archives where the operator's other routines meet them: a store restored from a backup older than an
archive in the node's folder, and a folder the node cannot write. An archive file is never overwritten by one of
another history of the log, and records leave the live store only once their archive is safely written."""

from __future__ import annotations

import shutil
from pathlib import Path

from nodekit import Management, acli, running_node


def _restore(backup: Path, store: Path) -> None:
    """Put a backup in place of the stopped node's store, as the operations guide says."""
    for leftover in (store, store.with_name(store.name + "-wal"), store.with_name(store.name + "-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copy(backup, store)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}


async def test_a_store_restored_from_before_an_archive_never_overwrites_that_archive(exchange, tmp_path):
    config = exchange.copy_node("consumer", tmp_path)
    folder = tmp_path / "var-consumer" / "evidence-archives"
    store = tmp_path / "var-consumer" / "connector.sqlite"
    backup = tmp_path / "before.sqlite"
    m = Management(exchange.consumer)
    await exchange.federation.start()  # the time-stamp authority
    try:
        async with running_node(config):
            ran = await acli("store", "backup", "--config", str(config), "--to", str(backup))
            assert ran.returncode == 0, ran.stdout + ran.stderr
            first = await m.call("POST", "/v1/evidence/archives", {"olderThanDays": 0}, 201)
        written = _files(folder)
        assert set(written) == {first["file"], first["file"] + ".jws"}

        # The operator restores the backup taken before that archive; the archive's files stay in the folder.
        _restore(backup, store)
        ran = await acli("evidence", "check", "--config", str(config))
        assert ran.returncode == 0 and "the log is intact" in ran.stdout, ran.stdout + ran.stderr
        async with running_node(config):
            # The restored log makes its own checkpoint where the other one was made, so its archive would have the
            # same name: refused, the other history's file kept as it was, nothing removed from the live log.
            head = (await m.call("POST", "/v1/evidence/check", {}, 200))["head"]["count"]
            assert first["last"] == head, (first, head)
            refused = await m.call("POST", "/v1/evidence/archives", {"olderThanDays": 0}, 409)
            assert refused["code"] == "evidence.archive_conflict", refused
            assert first["file"] in refused["detail"] and "move" in refused["detail"], refused
            assert _files(folder) == written
            assert await m.call("GET", "/v1/evidence/archives", None, 200) == {"items": []}
            checked = await m.call("POST", "/v1/evidence/check", {}, 200)
            assert checked["ok"] and checked["records"] > head, checked

            # As the error says: the files move aside (kept with the store they belong to), and archiving works.
            aside = tmp_path / "other-history"
            shutil.move(folder, aside)
            again = await m.call("POST", "/v1/evidence/archives", {"olderThanDays": 0}, 201)
            assert again["first"] == 1 and again["last"] > head
            checked = await m.call("POST", "/v1/evidence/check", {}, 200)
            assert checked["ok"] and checked["archives"] == 1, checked
        assert _files(aside) == written
    finally:
        await exchange.federation.stop()


async def test_an_archive_the_folder_cannot_take_removes_no_record_and_a_retry_works(exchange, tmp_path):
    config = exchange.copy_node("consumer", tmp_path)
    folder = tmp_path / "var-consumer" / "evidence-archives"
    m = Management(exchange.consumer)
    await exchange.federation.start()  # the time-stamp authority
    try:
        async with running_node(config):
            before = await m.call("POST", "/v1/evidence/check", {}, 200)
            # A file where the folder should be: nothing can be written, and the operator is told so.
            folder.write_bytes(b"not a folder")
            ran = await acli("evidence", "archive", "--older-than-days", "0", "--config", str(config))
            assert ran.returncode == 3, ran.stdout + ran.stderr  # the node cannot do it now
            assert "cannot be written in" in ran.stderr and "live log keeps every record" in ran.stderr, ran.stderr
            after = await m.call("POST", "/v1/evidence/check", {}, 200)
            assert after["ok"] and after["archives"] == 0 and after["records"] >= before["records"], after
            assert folder.read_bytes() == b"not a folder"
            folder.unlink()

            # Half way: the archive file is written, its manifest cannot be (its name is taken by a folder).
            head = (await m.call("POST", "/v1/evidence/check", {}, 200))["head"]["count"]  # where it will end
            name = f"evidence-{1:012d}-{head:012d}.json.gz"
            (folder / f"{name}.jws").mkdir(parents=True)
            refused = await m.call("POST", "/v1/evidence/archives", {"olderThanDays": 0}, 409)
            assert refused["code"] == "evidence.archive_conflict" and f"{name}.jws" in refused["detail"], refused
            assert [p.name for p in folder.iterdir()] == [f"{name}.jws"]  # the archive file written went again
            checked = await m.call("POST", "/v1/evidence/check", {}, 200)
            assert checked["ok"] and checked["archives"] == 0 and checked["records"] > head, checked
            (folder / f"{name}.jws").rmdir()

            archived = await m.call("POST", "/v1/evidence/archives", {"olderThanDays": 0}, 201)
            assert archived["first"] == 1 and archived["last"] > head
            checked = await m.call("POST", "/v1/evidence/check", {}, 200)
            assert checked["ok"] and checked["archives"] == 1, checked
            assert sorted(p.name for p in folder.iterdir()) == [archived["file"], archived["file"] + ".jws"]
    finally:
        await exchange.federation.stop()
