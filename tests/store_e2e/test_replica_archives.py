"""Evidence archives of a node whose replicas run on several machines: two replicas on one PostgreSQL database,
each with a data folder of its own (as on two machines), one of them archiving the log's older records.

- With the default archive folder (below each replica's own data folder) the other replica cannot find the file:
  its check says which file it looked for, where, and that the folder must be shared; it makes no archive of its
  own in a folder the first cannot see, and the node's export from its machine says the same.
- With `evidence.archive_dir` naming one shared folder, both replicas check the log through the archives either
  made, each can make the next one, and the offline check and export on either machine find them too.
- Both replicas asked to archive at once (a timer on every machine) make one archive of those records, not two.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodekit import Management, acli, make_participant, running_node, write_config
from replicakit import as_replica

from connector.free_port import free_port


@dataclass
class Replica:
    config: Path
    data_dir: Path
    api: Management


@contextlib.asynccontextmanager
async def _two_replicas(authority: Any, tmp_path: Path, url: str, extra: str = "") -> AsyncIterator[list[Replica]]:
    """Replicas "a" and "b" of one provider node on the database `url`, as on two machines: each with its own data
    folder and its own ports (a balancer in front would pass connections to either), `extra` added to both."""
    provider = make_participant(authority, tmp_path, "provider")
    ports = [provider.protocol_port, provider.management_port, free_port()]
    base = as_replica(write_config(provider, tmp_path).read_text(), url, ports[2]).replace("reuse_port = true\n", "")
    replicas = []
    for name, moved in (("a", ports), ("b", [free_port() for _ in ports])):
        text = base.replace(str(tmp_path / "var-provider"), str(tmp_path / f"var-{name}"))
        for old, new in zip(ports, moved, strict=True):
            text = text.replace(f'127.0.0.1:{old}"', f'127.0.0.1:{new}"')
        config = tmp_path / f"replica-{name}.toml"
        config.write_text(text + extra)
        api = Management(provider)
        api.base = f"http://127.0.0.1:{moved[1]}"
        replicas.append(Replica(config, tmp_path / f"var-{name}", api))
    async with running_node(replicas[0].config), running_node(replicas[1].config):
        yield replicas


async def _some_evidence(replica: Replica, asset: str) -> None:
    """Records in the log (an offer made: each definition is recorded) and a checkpoint over them."""
    await replica.api.offer(asset)
    await replica.api.call("POST", "/v1/evidence/checkpoints", {}, None)


async def test_a_replica_without_the_shared_folder_says_which_archive_it_lacks_and_where(
    authority, tmp_path, postgres_url
):
    async with _two_replicas(authority, tmp_path, postgres_url) as (a, b):
        await _some_evidence(a, "weather")
        made = await a.api.call("POST", "/v1/evidence/archives", {"olderThanDays": 0}, 201)
        assert (a.data_dir / "evidence-archives" / made["file"]).is_file()
        assert (await a.api.call("POST", "/v1/evidence/check", {}, 200))["ok"]

        checked = await b.api.call("POST", "/v1/evidence/check", {}, 200)
        assert not checked["ok"]
        first = checked["firstBreak"]
        assert first["code"] == "archive.missing", first
        looked = b.data_dir / "evidence-archives"
        assert made["file"] in first["reason"] and str(looked) in first["reason"], first
        assert "evidence.archive_dir" in first["reason"] and "replicas" in first["reason"], first
        assert first["details"] == {"file": made["file"], "folder": str(looked)}, first

        # Nor does it archive on into a folder the other replicas do not see: the node's files would be split.
        await _some_evidence(b, "rain")
        refused = await b.api.call("POST", "/v1/evidence/archives", {"olderThanDays": 0}, 503)
        assert refused["code"] == "evidence.unavailable" and made["file"] in refused["detail"], refused
        assert "evidence.archive_dir" in refused["detail"], refused
        assert (
            not list(looked.glob("evidence-*"))
            and len((await b.api.call("GET", "/v1/evidence/archives"))["items"]) == 1
        )

    # The node's export from that machine cannot carry the archive either, and says why.
    ran = await acli("export", "--all", "--out", str(tmp_path / "node.zip"), "--config", str(b.config))
    assert ran.returncode != 0 and made["file"] in ran.stderr and "evidence.archive_dir" in ran.stderr, ran.stderr
    ran = await acli("evidence", "check", "--config", str(b.config))  # offline: the replicas are stopped
    assert ran.returncode == 1 and "[archive.missing]" in ran.stdout and "evidence.archive_dir" in ran.stdout, ran


async def test_replicas_sharing_the_archive_folder_check_and_archive_alike(authority, tmp_path, postgres_url):
    shared = tmp_path / "shared-archives"  # one volume, mounted on both machines
    extra = f'\n[evidence]\narchive_dir = "{shared}"\n'
    async with _two_replicas(authority, tmp_path, postgres_url, extra) as (a, b):
        await _some_evidence(a, "weather")
        first = await a.api.call("POST", "/v1/evidence/archives", {"olderThanDays": 0}, 201)
        assert first["path"] == str(shared / first["file"]) and (shared / first["file"]).is_file()
        assert not (a.data_dir / "evidence-archives").exists()
        checks = [await r.api.call("POST", "/v1/evidence/check", {}, 200) for r in (a, b)]
        assert checks[0] == checks[1] and checks[0]["ok"] and checks[0]["archives"] == 1, checks

        # The other replica makes the next one, beside the first; both check the chain through both.
        await _some_evidence(b, "rain")
        second = await b.api.call("POST", "/v1/evidence/archives", {"olderThanDays": 0}, 201)
        assert second["first"] == first["last"] + 1 and (shared / second["file"]).is_file()
        checks = [await r.api.call("POST", "/v1/evidence/check", {}, 200) for r in (a, b)]
        assert checks[0] == checks[1] and checks[0]["ok"] and checks[0]["archives"] == 2, checks

    for replica in (a, b):  # offline, from either machine
        ran = await acli("evidence", "check", "--config", str(replica.config))
        assert ran.returncode == 0 and "through 2 archives" in ran.stdout, ran.stdout + ran.stderr
    ran = await acli("export", "--all", "--out", str(tmp_path / "node.zip"), "--config", str(b.config), "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert json.loads(ran.stdout)["manifest"]["files"]


async def test_replicas_asked_to_archive_at_once_make_one_archive_of_the_same_records(
    authority, tmp_path, postgres_url
):
    extra = f'\n[evidence]\narchive_dir = "{tmp_path / "shared-archives"}"\n'
    async with _two_replicas(authority, tmp_path, postgres_url, extra) as replicas:
        for round in range(3):
            await _some_evidence(replicas[0], f"weather-{round}")
            body = {"olderThanDays": 0}
            answers = await asyncio.gather(*(r.api.call("POST", "/v1/evidence/archives", body) for r in replicas))
            made = [a for a in answers if "file" in a]
            others = {a.get("code") for a in answers if "file" not in a}
            assert made and others <= {"evidence.busy", "evidence.nothing_to_archive"}, answers
            listed = (await replicas[0].api.call("GET", "/v1/evidence/archives", None, 200))["items"]
            assert [a["first"] for a in listed[1:]] == [a["last"] + 1 for a in listed[:-1]], listed
            for replica in replicas:
                checked = await replica.api.call("POST", "/v1/evidence/check", {}, 200)
                assert checked["ok"] and checked["archives"] == len(listed), checked["problems"]
