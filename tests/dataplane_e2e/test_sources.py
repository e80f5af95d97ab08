"""Every kind of source, pulled end to end between two real nodes, byte for byte and sealed."""

from __future__ import annotations

import io
import os
import sqlite3
import tarfile
from pathlib import Path
from typing import Any

from aiohttp import web
from dataplane_e2e.kit import Pair, access, agree, both, fetch, pull_all, settle, sha, started
from nodekit import free_port

from connector.sources import SourceContext, build_source


async def _expected(pair: Pair, source: dict[str, Any]) -> bytes:
    """What the provider's source yields, read locally (the oracle for the bytes the consumer gets)."""
    context = SourceContext(file_roots={"default": pair.root})
    stream = await build_source(source, context).open()
    return await stream.read_all()


async def _pull_and_check(pair: Pair, asset_id: str, source: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    agreement = await agree(pair, asset_id, source)
    tp = await started(pair, agreement)
    body, seal, _ = await pull_all(pair, tp["id"])
    assert seal["claims"]["sha256"] == sha(body) and seal["claims"]["size"] == len(body)
    assert seal["claims"]["datasetId"] == asset_id and seal["claims"]["issuer"] == pair.provider.participant_id
    verdict = await settle(pair, tp["id"], body, seal)
    assert verdict["verified"] is True
    await pair.cm.call("POST", f"/v1/transfers/{tp['id']}/complete", None, 200)
    return body, seal


async def test_a_folder_arrives_as_the_tar_archive_of_its_files(pair):
    folder = pair.root / "survey"
    (folder / "2024").mkdir(parents=True)
    (folder / "2024" / "q1.csv").write_bytes(b"site,count\nA,1\n")
    (folder / "readme.txt").write_bytes(os.urandom(70_000))
    async with both(pair):
        body, _ = await _pull_and_check(pair, "survey", {"type": "file", "path": "survey"})
    assert body == await _expected(pair, {"type": "file", "path": "survey"})
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        member = tar.extractfile("survey/2024/q1.csv")
        assert member is not None and member.read() == b"site,count\nA,1\n"
        member = tar.extractfile("survey/readme.txt")
        assert member is not None and member.read() == (folder / "readme.txt").read_bytes()


async def test_an_http_back_end_is_streamed_through_and_its_credentials_stay_with_the_provider(pair):
    content = os.urandom(2 * 1024 * 1024 + 5)
    seen: list[dict[str, str]] = []

    async def export(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        response = web.StreamResponse(headers={"Content-Type": "text/csv", "X-Internal": "do-not-leak"})
        response.content_length = len(content)
        await response.prepare(request)
        for i in range(0, len(content), 100_000):
            await response.write(content[i : i + 100_000])
        return response

    app = web.Application()
    app.router.add_get("/export.csv", export)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    source = {"type": "http", "url": f"http://127.0.0.1:{port}/export.csv", "headers": {"X-Api-Secret": "s3cret"}}
    try:
        async with both(pair):
            agreement = await agree(pair, "export", source)
            tp = await started(pair, agreement)
            from dataplane_e2e.kit import access, fetch

            info = await access(pair, tp["id"])
            got = await fetch(info["endpoint"], pair.consumer, info["authorization"])
            assert got.status == 200 and got.body == content
            assert "s3cret" not in str(got.headers) and "X-Internal" not in got.headers
            assert got.headers["Content-Type"] == "text/csv"
            seal = await fetch(info["sealEndpoint"], pair.consumer, info["authorization"])
            assert seal.json()["claims"]["sha256"] == sha(content)
            assert (await settle(pair, tp["id"], got.body, seal.json()))["verified"] is True
    finally:
        await runner.cleanup()
    assert seen and all(h.get("X-Api-Secret") == "s3cret" for h in seen)
    assert not any("Authorization" in h and "Bearer" in h["Authorization"] for h in seen)


def _sales(root: Path) -> None:
    with sqlite3.connect(root / "sales.sqlite") as db:
        db.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, region TEXT, amount REAL, note TEXT)")
        db.executemany(
            "INSERT INTO sales(region, amount, note) VALUES (?, ?, ?)",
            [("EU" if i % 3 else "US", i * 1.5, f'line {i}, with "quotes"') for i in range(20_000)],
        )


async def test_a_sql_query_arrives_as_csv(pair):
    _sales(pair.root)
    source = {
        "type": "sql",
        "database": "sales.sqlite",
        "query": "SELECT * FROM sales WHERE region = :region",
        "parameters": {"region": "EU"},
        "format": "csv",
    }
    async with both(pair):
        body, seal = await _pull_and_check(pair, "sales-csv", source)
    assert body == await _expected(pair, source)
    assert body.startswith(b"id,region,amount,note\r\n") and body.count(b"\r\n") == 1 + 13_333
    assert seal["claims"]["mediaType"].startswith("text/csv")


async def test_a_sql_query_arrives_as_json_lines(pair):
    _sales(pair.root)
    source = {
        "type": "sql",
        "database": "sales.sqlite",
        "query": "SELECT id, amount FROM sales WHERE id <= ?",
        "parameters": [500],
        "format": "jsonl",
    }
    async with both(pair):
        body, _ = await _pull_and_check(pair, "sales-jsonl", source)
    assert body == await _expected(pair, source)
    assert body.count(b"\n") == 500 and body.startswith(b'{"id":1,')


async def test_a_source_that_cannot_be_read_is_told_in_the_providers_transfer_history(pair):
    async with both(pair):
        agreement = await agree(pair, "missing", {"type": "file", "path": "not-there.csv"})
        tp = await started(pair, agreement)
        info = await access(pair, tp["id"])
        for _ in range(2):  # asked again, it is told once
            got = await fetch(info["endpoint"], pair.consumer, info["authorization"])
            assert got.status == 404 and got.json()["code"] == "source.file.not_found", got
        listed = await pair.pm.call("GET", "/v1/transfers", None, 200)
        (theirs,) = [t for t in listed["items"] if t["agreementId"] == agreement]
        record = await pair.pm.call("GET", f"/v1/transfers/{theirs['id']}", None, 200)
        told = [h for h in record["history"] if h["cause"] == "pull refused: the data source cannot be read"]
        assert len(told) == 1, record["history"]
        assert "'not-there.csv' does not exist below the data root" in told[0]["reason"], told
        assert told[0]["detail"] == {"code": "source.file.not_found"}, told
        assert record["state"] == "STARTED"  # the provider may still put the file in place
