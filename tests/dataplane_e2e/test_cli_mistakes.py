"""Mistakes a consumer makes on `connector transfer` and `connector fetch`: each is one line and exit status 2,
and none of them leaves a transfer or a negotiation started on the node."""

from __future__ import annotations

from dataplane_e2e.kit import agree, both
from nodekit import acli


def _one_line_mistake(ran, *fragments: str) -> None:
    assert ran.returncode == 2, ran
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("connector: error: "), ran.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


async def _transfers(pair) -> int:
    return int((await pair.cm.call("GET", "/v1/transfers", None, 200))["total"])


async def test_an_out_path_that_is_a_folder_is_a_mistake_even_with_overwrite(pair):
    (pair.root / "rain.csv").write_text("a,b\n1,2\n")
    folder = pair.tmp / "downloads"
    folder.mkdir()
    async with both(pair):
        agreement = await agree(pair, "rain", {"type": "file", "path": "rain.csv"})
        for extra in ([], ["--overwrite"]):
            ran = await acli("transfer", agreement, "--out", str(folder), *extra, "--quiet", "--config", str(pair.ccfg))
            _one_line_mistake(ran, "is a folder", "[--out]")
        assert await _transfers(pair) == 0
        assert folder.is_dir() and not list(pair.tmp.glob("downloads.part*"))


async def test_negative_waits_are_refused_before_anything_starts(pair):
    (pair.root / "rain.csv").write_text("a,b\n1,2\n")
    out = str(pair.tmp / "rain.csv")
    cfg = ["--config", str(pair.ccfg)]
    peer = f"https://localhost:{pair.provider.protocol_port}/dsp/2025-1"
    async with both(pair):
        agreement = await agree(pair, "rain", {"type": "file", "path": "rain.csv"})
        negotiations = (await pair.cm.call("GET", "/v1/negotiations", None, 200))["total"]
        for option in ("--timeout", "--retry-for"):
            _one_line_mistake(await acli("transfer", agreement, "--out", out, option, "-1", *cfg), option)
            _one_line_mistake(await acli("fetch", peer, "rain", "--out", out, option, "-1", *cfg), option)
        _one_line_mistake(await acli("negotiate", peer, "rain-offer", "--timeout", "-5", *cfg), "--timeout")
        _one_line_mistake(await acli("negotiate", peer, "rain-offer", "--timeout", "nan", *cfg), "--timeout")
        assert await _transfers(pair) == 0
        assert (await pair.cm.call("GET", "/v1/negotiations", None, 200))["total"] == negotiations


async def test_fetch_checks_its_out_path_before_it_negotiates(pair):
    (pair.root / "rain.csv").write_text("a,b\n1,2\n")
    folder = pair.tmp / "downloads"
    folder.mkdir()
    taken = pair.tmp / "taken.csv"
    taken.write_text("keep me\n")
    peer = f"https://localhost:{pair.provider.protocol_port}/dsp/2025-1"
    cfg = ["--config", str(pair.ccfg), "--quiet"]
    async with both(pair):
        await agree(pair, "rain", {"type": "file", "path": "rain.csv"})
        before = (await pair.cm.call("GET", "/v1/negotiations", None, 200))["total"]
        _one_line_mistake(await acli("fetch", peer, "rain", "--out", str(folder), *cfg), "is a folder", "[--out]")
        _one_line_mistake(await acli("fetch", peer, "rain", "--out", str(taken), *cfg), "already exists", "[--out]")
        missing = str(pair.tmp / "nowhere" / "rain.csv")
        _one_line_mistake(await acli("fetch", peer, "rain", "--out", missing, *cfg), "does not exist", "[--out]")
        assert (await pair.cm.call("GET", "/v1/negotiations", None, 200))["total"] == before
        assert taken.read_text() == "keep me\n"


async def test_received_pages_say_where_they_are_and_past_the_end_is_not_nothing_received(pair):
    (pair.root / "rain.csv").write_text("a,b\n1,2\n")
    cfg = ["--config", str(pair.ccfg)]
    async with both(pair):
        agreement = await agree(pair, "rain", {"type": "file", "path": "rain.csv"})
        for name in ("one.csv", "two.csv"):
            ran = await acli("transfer", agreement, "--out", str(pair.tmp / name), "--quiet", *cfg)
            assert ran.returncode == 0, ran
        first = await acli("received", "--limit", "1", *cfg)
        assert first.returncode == 0 and first.stdout.splitlines()[-1] == "(1-1 of 2; next: --offset 1)", first
        past = await acli("received", "--offset", "5", *cfg)
        assert past.returncode == 0 and past.stdout.strip() == "(nothing at offset 5; 2 in all)", past
        other = await acli("received", "--agreement", "urn:uuid:none", *cfg)
        assert other.returncode == 0 and other.stdout.strip() == "no data received under agreement urn:uuid:none"


async def test_a_transfer_that_does_not_start_is_waited_for_timeout_seconds_once(pair):
    import time

    from nodekit import running_node

    (pair.root / "rain.csv").write_text("a,b\n1,2\n")
    async with running_node(pair.ccfg):
        async with running_node(pair.pcfg):
            agreement = await agree(pair, "rain", {"type": "file", "path": "rain.csv"})
        # The provider is gone: the transfer stays REQUESTED.
        began = time.monotonic()
        ran = await acli(
            "transfer", agreement, "--out", str(pair.tmp / "rain.csv"), "--timeout", "4", "--quiet",
            "--config", str(pair.ccfg),
        )  # fmt: skip
        took = time.monotonic() - began
        assert ran.returncode == 3 and "still REQUESTED after 4 s" in ran.stderr, ran
        assert took < 7, took  # one wait of --timeout (and the command's start), not two
