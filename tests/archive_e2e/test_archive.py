"""No lock-in: a node's signed archive, written while it runs, restored into a fresh node (SQLite or PostgreSQL)
that then verifies its evidence and carries on; an archive that does not verify, or an occupied store, is refused
and nothing is restored."""

from __future__ import annotations

import asyncio
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from dataplane_e2e.kit import Pair, both
from duties_e2e.kit import agreed, delete_within, duties_pair, duty_policy, offer_file, pulled, receipts_at
from nodekit import Management, acli, cli_measured, running_node, wait_for

from connector.evidence.chain import verify_chain
from connector.pki.authority import Authority


def fresh_config(pair: Pair, name: str, store: str = "") -> Path:
    """The consumer's configuration for a new installation: its own (empty) data folder, other ports."""
    from connector.free_port import free_port

    text = pair.ccfg.read_text()
    text = text.replace(f'data_dir = "{pair.tmp / "var-consumer"}"', f'data_dir = "{pair.tmp / name}"')
    text = text.replace(f'listen = "127.0.0.1:{pair.consumer.management_port}"', f'listen = "127.0.0.1:{free_port()}"')
    path = pair.tmp / f"{name}.toml"
    path.write_text(text + store)
    return path


async def _exchange(pair: Pair, archive: Path) -> str:
    async with both(pair):
        await offer_file(pair, "ocean", os.urandom(5000), duty_policy({"action": "inform"}, onward=False))
        agreement = await agreed(pair, "ocean")
        await pulled(pair, agreement, pair.tmp / "consumer-data" / "ocean.bin")
        await receipts_at(pair.cm, agreement, 1)
        ran = await acli("evidence", "checkpoint", "--config", str(pair.ccfg))
        assert ran.returncode == 0, ran.stderr
        ran = await acli("export", "--all", "--out", str(archive), "--config", str(pair.ccfg), "--json")
        assert ran.returncode == 0, ran.stderr + ran.stdout
    assert json.loads(ran.stdout)["manifest"]["node"] == pair.consumer.participant_id
    return agreement


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pair, Path, str]:
    """A consumer that negotiated, received data under an inform duty, and exported its archive while running
    (once for this module: each test restores it into an installation of its own)."""
    root = tmp_path_factory.mktemp("archive")
    pair = duties_pair(Authority.init(root / "authority", "Test Federation"), root)
    archive = root / "consumer.archive.zip"
    return pair, archive, asyncio.run(_exchange(pair, archive))


def _rows(archive: Path, path: str) -> list[dict]:
    with zipfile.ZipFile(archive) as z:
        return [json.loads(line) for line in z.read(path).splitlines()]


async def test_an_archive_is_self_describing_and_its_evidence_verifies_from_the_archive_alone(exported):
    pair, archive, agreement = exported
    with zipfile.ZipFile(archive) as z:
        manifest = json.loads(z.read("manifest.json"))
        names = set(z.namelist())
    assert manifest["type"] == "ConnectorArchive" and manifest["version"] == 1
    assert names == {"manifest.json", "manifest.jws"} | {f["path"] for f in manifest["files"]}
    files = {f["path"]: f for f in manifest["files"]}
    assert files["agreements.jsonl"]["rows"] == 1 and files["agreements.jsonl"]["restores"] == "agreements"
    assert files["counterparties.jsonl"]["restores"] is None
    [agreement_row] = _rows(archive, "agreements.jsonl")
    assert agreement_row["id"] == agreement and agreement_row["policy"]["prohibition"]  # JSON, not text
    [peer] = _rows(archive, "counterparties.jsonl")
    assert peer["participant_id"] == pair.provider.participant_id and peer["roles"] == ["provider"]
    records = _rows(archive, "evidence/records.jsonl")
    assert len(records) == manifest["evidence"]["records"] and verify_chain(records).ok
    assert records[-1]["hash"] == manifest["evidence"]["head"]
    [receipt] = _rows(archive, "receipts.jsonl")
    assert receipt["direction"] == "issued" and receipt["duty"] == "inform"
    # No bearer token leaves the node in an archive.
    assert "withheld:sha256:" in json.dumps(_rows(archive, "transfers.jsonl"))


async def test_an_archive_restores_into_a_fresh_node_which_verifies_its_evidence_and_carries_on(exported):
    pair, archive, agreement = exported
    config = fresh_config(pair, "var-moved")
    ran = await acli("import", str(archive), "--config", str(config))
    assert ran.returncode == 0, ran.stderr + ran.stdout
    assert "the restored evidence log verifies" in ran.stdout
    checked = await acli("evidence", "check", "--config", str(config), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["ok"] is True
    again = await acli("import", str(archive), "--config", str(config))
    assert again.returncode == 2 and "already holds rows" in again.stderr, again.stderr

    async with running_node(config) as moved, running_node(pair.pcfg):
        m = Management(pair.consumer)
        m.base = f"http://127.0.0.1:{moved.listeners['management'].port}"
        assert [a["id"] for a in (await m.call("GET", "/v1/agreements", None, 200))["items"]] == [agreement]
        bundle = await m.call("GET", f"/v1/evidence/agreements/{agreement}/bundle", None, 200)
        assert bundle["agreement"]["@id"] == agreement and bundle["log"]["proof"]["records"]
        duties = await m.call("GET", f"/v1/agreements/{agreement}/duties", None, 200)
        assert duties["received"][0]["noOnwardTransfer"] is True and len(duties["receipts"]) == 1
        refused = await m.call(
            "POST", "/v1/assets", {"id": "resale", "source": {"type": "file", "path": "ocean.bin"}}, 409
        )
        assert refused["code"] == "duty.no_onward_transfer"  # provenance moved with the data


async def test_an_archive_restores_into_postgresql(exported, postgres_url):
    pair, archive, agreement = exported
    config = fresh_config(pair, "var-pg", f'\n[store]\nurl = "{postgres_url}"\n')
    ran = await acli("import", str(archive), "--config", str(config), "--json")
    assert ran.returncode == 0, ran.stderr + ran.stdout
    result = json.loads(ran.stdout)
    assert result["imported"] is True and result["check"]["ok"] is True
    assert result["files"]["agreements.jsonl"] == 1 and result["files"]["evidence/records.jsonl"] > 10
    checked = await acli("evidence", "check", "--config", str(config))
    assert checked.returncode == 0 and "the log is intact" in checked.stdout, checked.stdout + checked.stderr


async def test_a_deletion_owed_when_the_archive_was_written_is_carried_out_by_the_node_it_moved_to(authority, tmp_path):
    pair = duties_pair(authority, tmp_path)
    out = pair.tmp / "consumer-data" / "swell.bin"
    archive = tmp_path / "consumer.archive.zip"
    async with both(pair):
        await offer_file(pair, "swell", os.urandom(3000), duty_policy(delete_within("PT30S")))
        agreement = await agreed(pair, "swell")
        await pulled(pair, agreement, out)
        ran = await acli("export", "--all", "--out", str(archive), "--config", str(pair.ccfg))
        assert ran.returncode == 0, ran.stderr + ran.stdout
    assert out.exists()  # the old installation stopped before the data was due for deletion
    config = fresh_config(pair, "var-moved")
    ran = await acli("import", str(archive), "--config", str(config))
    assert ran.returncode == 0, ran.stderr + ran.stdout

    async with running_node(config) as moved, running_node(pair.pcfg):
        m = Management(pair.consumer)
        m.base = f"http://127.0.0.1:{moved.listeners['management'].port}"
        await wait_for(lambda: not out.exists(), 60, 0.2)
        [receipt] = await receipts_at(m, agreement, 1)
        assert (receipt["duty"], receipt["outcome"], receipt["direction"]) == ("delete", "deleted", "issued")
        [held] = await receipts_at(pair.pm, agreement, 1)  # the provider has the moved node's receipt
        assert held["duty"] == "delete" and held["direction"] == "received"


def _rewritten(archive: Path, target: Path, change: dict[str, bytes]) -> Path:
    """A copy of `archive` with some of its files replaced (or added)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(buffer, "w") as copy:
        for name in source.namelist():
            copy.writestr(name, change.get(name, source.read(name)))
        for name in set(change) - set(source.namelist()):
            copy.writestr(name, change[name])
    target.write_bytes(buffer.getvalue())
    return target


def _inflating(archive: Path, target: Path, name: str, size: int) -> Path:
    """A copy of `archive` whose file `name` is replaced by `size` bytes of spaces (a few hundred kilobytes
    deflated)."""
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for entry in source.namelist():
            if entry != name:
                copy.writestr(entry, source.read(entry))
        with copy.open(name, "w", force_zip64=True) as out:
            for _ in range(size // 1_000_000):
                out.write(b" " * 1_000_000)
    return target


async def test_an_archive_that_does_not_verify_restores_nothing(exported, tmp_path):
    import hashlib

    from connector.canonical import canonical_bytes

    pair, archive, _ = exported
    config = fresh_config(pair, "var-refusing")
    with zipfile.ZipFile(archive) as z:
        records = z.read("evidence/records.jsonl")
        manifest = json.loads(z.read("manifest.json"))
    changed = records.replace(b"dsp.received", b"dsp.recieved", 1)
    assert changed != records

    altered = _rewritten(archive, tmp_path / "altered.zip", {"evidence/records.jsonl": changed})
    ran = await acli("import", str(altered), "--config", str(config))
    assert ran.returncode == 1, ran.stderr
    assert "is not the file the archive's signed manifest lists" in ran.stderr and "nothing was restored" in ran.stderr

    for entry in manifest["files"]:
        if entry["path"] == "evidence/records.jsonl":
            entry["sha256"] = hashlib.sha256(changed).hexdigest()
    resigned = _rewritten(
        archive,
        tmp_path / "resigned.zip",
        {"evidence/records.jsonl": changed, "manifest.json": canonical_bytes(manifest)},
    )
    ran = await acli("import", str(resigned), "--config", str(config), "--json")
    assert ran.returncode == 1 and json.loads(ran.stdout)["error"]["code"] == "archive.signature", ran.stdout

    with zipfile.ZipFile(archive) as z:
        negotiations = z.read("negotiations.jsonl")
    deep = b"[" * 100_000 + negotiations[negotiations.index(b"\n") :]
    nested = _rewritten(archive, tmp_path / "nested.zip", {"negotiations.jsonl": deep})
    ran = await acli("import", str(nested), "--config", str(config))
    assert ran.returncode == 1 and "Traceback" not in ran.stderr, ran.stderr
    assert "negotiations.jsonl line 1 nests arrays and objects too deeply" in ran.stderr, ran.stderr
    assert "nothing was restored" in ran.stderr

    longer = _rewritten(archive, tmp_path / "longer.zip", {"negotiations.jsonl": negotiations + b"not a row\n"})
    ran = await acli("import", str(longer), "--config", str(config))  # refused before the line is read as a row
    assert ran.returncode == 1 and "is not the file the archive's signed manifest lists" in ran.stderr, ran.stderr

    extra = _rewritten(archive, tmp_path / "extra.zip", {"notes.txt": b"hello"})
    ran = await acli("import", str(extra), "--config", str(config))
    assert ran.returncode == 1 and "does not list" in ran.stderr

    ran = await acli("import", str(archive), "--config", str(pair.pcfg))
    assert ran.returncode == 1 and f"the archive is of {pair.consumer.participant_id}" in ran.stderr
    ran = await acli("export", "--out", str(tmp_path / "x.zip"), "--config", str(config))
    assert ran.returncode == 2 and "--all" in ran.stderr

    # The refused archives left the store as empty as they found it: the genuine one restores into it whole.
    ran = await acli("import", str(archive), "--config", str(config), "--json")
    assert ran.returncode == 0 and json.loads(ran.stdout)["check"]["ok"] is True, ran.stderr + ran.stdout


async def test_a_node_that_archived_its_evidence_moves_with_its_evidence_archives(authority, tmp_path):
    """Retention and moving together: the node's archive carries its evidence archive files (the live log goes on
    from the last one's head), the new node gets them in its folder and checks its log through them; an archive
    whose evidence archive file was changed restores nothing and leaves no file behind."""
    pair = duties_pair(authority, tmp_path)
    archive = tmp_path / "consumer.archive.zip"
    async with both(pair):
        await offer_file(pair, "tide", os.urandom(2000), duty_policy({"action": "inform"}, onward=False))
        agreement = await agreed(pair, "tide")
        await pulled(pair, agreement, pair.tmp / "consumer-data" / "tide.bin")
        ran = await acli("evidence", "archive", "--older-than-days", "0", "--config", str(pair.ccfg), "--json")
        assert ran.returncode == 0, ran.stderr + ran.stdout
        archived = json.loads(ran.stdout)
        await agreed(pair, "tide")  # the live log goes on after the archive
        ran = await acli("evidence", "checkpoint", "--config", str(pair.ccfg))
        assert ran.returncode == 0, ran.stderr
        ran = await acli("export", "--all", "--out", str(archive), "--config", str(pair.ccfg), "--json")
        assert ran.returncode == 0, ran.stderr + ran.stdout
    file = archived["file"]
    [row] = _rows(archive, "evidence/archives.jsonl")
    assert (row["file"], row["last_seq"]) == (file, archived["last"])
    records = _rows(archive, "evidence/records.jsonl")
    assert (
        records[0]["seq"] == archived["last"] + 1
        and verify_chain(records, row["head"], start_seq=row["last_seq"] + 1).ok
    )
    with zipfile.ZipFile(archive) as z:
        carried = z.read(f"evidence/archives/{file}")
    assert carried == (pair.tmp / "var-consumer" / "evidence-archives" / file).read_bytes()

    changed = bytearray(carried)
    changed[len(changed) // 2] ^= 1
    refusing = fresh_config(pair, "var-refusing")
    altered = _rewritten(archive, tmp_path / "altered.zip", {f"evidence/archives/{file}": bytes(changed)})
    ran = await acli("import", str(altered), "--config", str(refusing))
    assert ran.returncode == 1 and "nothing was restored" in ran.stderr, ran.stderr
    assert not list((pair.tmp / "var-refusing").glob("evidence-archives/*"))

    bomb = _inflating(archive, tmp_path / "bomb.zip", f"evidence/archives/{file}", 600_000_000)
    ran, peak = cli_measured("import", str(bomb), "--config", str(refusing), folder=tmp_path)
    assert ran.returncode == 1 and "its SHA-256 differs" in ran.stderr and "nothing was restored" in ran.stderr, ran
    assert peak < 400_000_000, f"the import took {peak} bytes to refuse a file of 600 MB inflated"
    assert not list((pair.tmp / "var-refusing").glob("evidence-archives/*"))

    config = fresh_config(pair, "var-moved")
    ran = await acli("import", str(archive), "--config", str(config), "--json")
    assert ran.returncode == 0, ran.stderr + ran.stdout
    result = json.loads(ran.stdout)
    assert (
        result["check"]["ok"] and result["check"]["archives"] == 1 and result["files"]["evidence/archives.jsonl"] == 1
    )
    moved = pair.tmp / "var-moved" / "evidence-archives"
    assert (moved / file).read_bytes() == carried and (moved / f"{file}.jws").read_text() == row["jws"]
    checked = await acli("evidence", "check", "--config", str(config))
    assert checked.returncode == 0 and "through 1 archive" in checked.stdout, checked.stdout + checked.stderr
