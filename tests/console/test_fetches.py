"""The console's fetches: what the disk keeps of them once no page can reach them."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from connector.console import fetching
from connector.console.fetching import Fetches


class Spawned:
    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []

    def __call__(self, coro: Any, name: str) -> asyncio.Task[Any]:
        if name.startswith("console-fetch-") and not name.endswith("-removal"):
            coro.close()  # the fetch itself is not run here
            return asyncio.get_running_loop().create_future()  # type: ignore[return-value]
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.append(task)
        return task

    async def settle(self) -> None:
        await asyncio.gather(*self.tasks)


def _folder(root: Path, name: str, age: float = 0.0) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "data.csv").write_text("a,b\n")
    stamp = time.time() - age
    os.utime(folder, (stamp, stamp))
    return folder


async def test_an_ended_fetch_that_leaves_the_list_takes_its_folder_along(tmp_path, monkeypatch):
    monkeypatch.setattr(fetching, "KEPT", 2)
    spawned = Spawned()
    fetches = Fetches(None, object, tmp_path, spawned)  # type: ignore[arg-type]
    first = fetches.start("did:web:peer", "ds-1", None, agreement_id="urn:a1")
    first.stage, first.folder = "done", _folder(tmp_path, "t1")
    running = fetches.start("did:web:peer", "ds-2", None, agreement_id="urn:a2")
    running.folder = _folder(tmp_path, "t2")
    fetches.start("did:web:peer", "ds-3", None, agreement_id="urn:a3")
    await spawned.settle()
    assert not first.folder.exists() and fetches.get(first.id) is None
    fetches.start("did:web:peer", "ds-4", None, agreement_id="urn:a4")  # the running one leaves the list
    await spawned.settle()
    assert running.folder.exists()  # still being written: it goes when it ends

    async def steps(fetch: fetching.Fetch) -> None:
        fetch.stage = "done"

    fetches._steps = steps  # type: ignore[method-assign]
    await fetches._run(running)
    await spawned.settle()
    assert not running.folder.exists()
    kept = fetches.recent()[0]
    kept.folder = _folder(tmp_path, "t4")
    await fetches._run(kept)  # one still listed keeps its folder when it ends
    await spawned.settle()
    assert kept.folder.exists()


async def test_folders_of_an_earlier_run_go_once_they_are_older_than_the_retention(tmp_path):
    old = _folder(tmp_path, "earlier-old", age=fetching.RETENTION + 60)
    young = _folder(tmp_path, "earlier-young", age=fetching.RETENTION - 3600)
    (tmp_path / "a-file").write_text("not a download folder")
    spawned = Spawned()
    fetches = Fetches(None, object, tmp_path, spawned)  # type: ignore[arg-type]
    fetches.start("did:web:peer", "ds-1", None, agreement_id="urn:a1")
    await spawned.settle()
    assert not old.exists() and young.exists() and (tmp_path / "a-file").exists()
