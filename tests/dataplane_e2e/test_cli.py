"""The command line as a consumer uses it: `connector transfer` and `connector fetch` against real nodes."""

from __future__ import annotations

import json
import os

from dataplane_e2e.kit import access, agree, both, fetch, wait_state
from nodekit import acli


async def test_connector_transfer_pulls_verifies_and_completes(pair):
    data = os.urandom(5 * 1024 * 1024 + 3)
    (pair.root / "rain.bin").write_bytes(data)
    out = pair.tmp / "rain-copy.bin"
    async with both(pair):
        agreement = await agree(pair, "rain", {"type": "file", "path": "rain.bin"})
        ran = await acli("transfer", agreement, "--out", str(out), "--config", str(pair.ccfg), "--json")
        assert ran.returncode == 0, ran.stderr + ran.stdout
        result = json.loads(ran.stdout)
        assert out.read_bytes() == data
        assert result["size"] == len(data) and result["completed"] is True
        # The data phase's CPU, every thread of the puller: what a core given to it alone would need.
        assert 0 < result["streamCpuSeconds"] < result["seconds"] * (os.cpu_count() or 1)
        assert not list(pair.tmp.glob("rain-copy.bin.part*"))
        tp = await wait_state(pair.cm, result["transferId"], "COMPLETED")
        await wait_state(pair.pm, tp["providerPid"], "COMPLETED")


BLOCK = os.urandom(1024 * 1024)
BIG = 128  # MiB: long enough to be killed in the middle


def _big_file(path) -> bytes:
    data = BLOCK * BIG
    path.write_bytes(data)
    return data


async def _start_and_kill(pair, agreement: str, out) -> int:
    """Run `connector transfer` and kill -9 it once it holds a few MiB; returns the bytes it held."""
    import asyncio
    import signal
    import sys

    part = out.with_name(out.name + ".part")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "connector",
        "transfer",
        agreement,
        "--out",
        str(out),
        "--config",
        str(pair.ccfg),
        "--quiet",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while loop.time() < deadline:
        if part.exists() and part.stat().st_size >= 2 * 1024 * 1024:
            proc.send_signal(signal.SIGKILL)
            break
        assert proc.returncode is None, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
        await asyncio.sleep(0.001)
    await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    held = part.stat().st_size
    assert 0 < held < BIG * 1024 * 1024
    return held


async def test_a_killed_transfer_continues_where_it_stopped_when_run_again(pair):
    data = _big_file(pair.root / "big.bin")
    out = pair.tmp / "big-copy.bin"
    async with both(pair):
        agreement = await agree(pair, "big", {"type": "file", "path": "big.bin"})
        held = await _start_and_kill(pair, agreement, out)
        assert not out.exists()
        ran = await acli("transfer", agreement, "--out", str(out), "--config", str(pair.ccfg), "--json")
        assert ran.returncode == 0, ran.stderr
        result = json.loads(ran.stdout)
        assert result["resumedFrom"] >= held - 4 * 1024 * 1024 and result["resumedFrom"] > 0
        assert result["received"] == len(data) - result["resumedFrom"]
        assert "resuming at byte" in ran.stderr and "continuing transfer" in ran.stderr
        assert out.read_bytes() == data
        assert not list(pair.tmp.glob("big-copy.bin.part*"))
        transfers = await pair.cm.call("GET", "/v1/transfers?role=consumer", None, 200)
        assert [t["state"] for t in transfers["items"]] == ["COMPLETED"]  # one transfer, continued


async def test_a_pull_outlasts_a_provider_away_for_a_few_seconds(pair):
    """The provider goes away in the middle of a transfer (here: before the pull that continues it begins) and
    comes back a few seconds later on the same data port: the pull keeps trying, with back-off, and finishes."""
    import asyncio
    import sys

    from nodekit import free_port, running_node

    data_port = free_port()
    pair.pcfg.write_text(pair.pcfg.read_text().replace("[data]\n", f'[data]\nlisten = "127.0.0.1:{data_port}"\n', 1))
    data = _big_file(pair.root / "big.bin")
    out = pair.tmp / "big-copy.bin"
    async with running_node(pair.ccfg):
        async with running_node(pair.pcfg):
            agreement = await agree(pair, "big", {"type": "file", "path": "big.bin"})
            await _start_and_kill(pair, agreement, out)
        # The provider is away: the pull that continues the transfer starts now.
        command = ("transfer", agreement, "--out", str(out), "--config", str(pair.ccfg), "--json")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "connector", *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        await asyncio.sleep(3.0)
        assert proc.returncode is None, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
        async with running_node(pair.pcfg):
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0, stderr.decode() + stdout.decode()
            assert out.read_bytes() == data
            assert "trying again" in stderr.decode()
            (transfer,) = (await pair.cm.call("GET", "/v1/transfers?role=consumer", None, 200))["items"]
            await wait_state(pair.cm, transfer["id"], "COMPLETED")


async def test_a_pull_gives_up_once_its_retry_budget_is_spent(pair):
    import time

    from nodekit import free_port, running_node

    data_port = free_port()
    pair.pcfg.write_text(pair.pcfg.read_text().replace("[data]\n", f'[data]\nlisten = "127.0.0.1:{data_port}"\n', 1))
    _big_file(pair.root / "big.bin")
    out = pair.tmp / "big-copy.bin"
    async with running_node(pair.ccfg):
        async with running_node(pair.pcfg):
            agreement = await agree(pair, "big", {"type": "file", "path": "big.bin"})
            await _start_and_kill(pair, agreement, out)
        began = time.monotonic()
        ran = await acli(
            "transfer", agreement, "--out", str(out), "--config", str(pair.ccfg), "--retry-for", "2", "--quiet"
        )
        took = time.monotonic() - began
    assert ran.returncode == 3, ran.stderr  # unreachable: trying again later may help
    assert "connector: unreachable:" in ran.stderr and "2 s" in ran.stderr, ran.stderr
    assert 2.0 <= took < 20, took


LOST_IN_FLIGHT = 3 * 1024 * 1024 + 5  # the last bytes that left the provider and never reached the part


async def _killed_then_the_rest(pair, agreement: str, out, size: int, lost: int = 0):
    """A pull killed midway, then the rest of its `size` bytes fetched by hand as the puller would resume it, and
    appended to the part but for the last `lost` (which left the provider and never reached the part): (bytes the
    part now holds, the consumer's transfer, its access, the resume's headers)."""
    held = await _start_and_kill(pair, agreement, out)
    (transfer,) = (await pair.cm.call("GET", "/v1/transfers?role=consumer", None, 200))["items"]
    info = await access(pair, transfer["id"])
    etag = out.with_name(out.name + ".part.etag").read_text().strip()
    resume = {"Range": f"bytes={held}-", "If-Range": etag}
    rest = await fetch(info["endpoint"], pair.consumer, info["authorization"], headers=resume)
    assert rest.status == 206 and held + len(rest.body) == size
    with open(out.with_name(out.name + ".part"), "ab") as part:
        part.write(rest.body[: len(rest.body) - lost])
    return size - lost, transfer, info, resume


async def test_a_transfer_stopped_after_its_last_byte_left_finishes_with_the_seal_when_run_again(pair):
    """The provider counts the data delivered once its last byte left: no fresh token, no pull from the start. A
    run stopped after the bytes reached the part but before the seal still finishes, with the token it holds."""
    data = _big_file(pair.root / "big.bin")
    out = pair.tmp / "big-copy.bin"
    async with both(pair):
        agreement = await agree(pair, "big", {"type": "file", "path": "big.bin"})
        # The last bytes reached the part; then the puller stopped.
        _, transfer, info, _ = await _killed_then_the_rest(pair, agreement, out, len(data))
        refused = await fetch(_refresh(info), pair.consumer, None, method="POST")
        assert refused.status == 410 and refused.json()["code"] == "dataplane.delivered"
        ran = await acli("transfer", agreement, "--out", str(out), "--config", str(pair.ccfg), "--json")
        assert ran.returncode == 0, ran.stderr + ran.stdout
        assert out.read_bytes() == data and json.loads(ran.stdout)["received"] == 0
        await wait_state(pair.cm, transfer["id"], "COMPLETED")


async def test_a_pull_stopped_with_its_last_bytes_in_flight_fetches_them_when_run_again(pair):
    """The provider's last byte can leave while the puller is stopped before it holds it (a Ctrl-C with the
    tail still in the socket or in a buffer being filled): the provider then counts the data as sent in full,
    and the next run must still get the bytes it lacks, not be refused and fail on the seal."""
    data = _big_file(pair.root / "big.bin")
    out = pair.tmp / "big-copy.bin"
    async with both(pair):
        agreement = await agree(pair, "big", {"type": "file", "path": "big.bin"})
        short, transfer, info, _ = await _killed_then_the_rest(pair, agreement, out, len(data), LOST_IN_FLIGHT)
        # Still one use: the data is not given again from the start, nor a fresh token.
        whole = await fetch(info["endpoint"], pair.consumer, info["authorization"])
        token = await fetch(_refresh(info), pair.consumer, None, method="POST")
        assert whole.status == token.status == 410 and token.json()["code"] == "dataplane.delivered"
        ran = await acli("transfer", agreement, "--out", str(out), "--config", str(pair.ccfg), "--json")
        assert ran.returncode == 0, ran.stderr + ran.stdout
        result = json.loads(ran.stdout)
        assert result["resumedFrom"] == short and result["received"] == LOST_IN_FLIGHT
        assert out.read_bytes() == data
        await wait_state(pair.cm, transfer["id"], "COMPLETED")


async def test_a_resume_refused_as_delivered_with_the_part_short_ends_the_transfer_without_a_seal(pair):
    """A provider may refuse the resume of a part that lacks the end of the data, counting the data as delivered
    (this one does once its seal was served; another version or implementation may as soon as its last byte
    left). The part is known to be short of the size the provider stated: the run stops with what happened,
    asks for no seal (which the node would refuse, blaming the provider), and ends the transfer with the reason;
    the next run takes a new transfer."""
    data = _big_file(pair.root / "big.bin")
    out = pair.tmp / "big-copy.bin"
    async with both(pair):
        agreement = await agree(pair, "big", {"type": "file", "path": "big.bin"})
        short, transfer, info, resume = await _killed_then_the_rest(pair, agreement, out, len(data), LOST_IN_FLIGHT)
        seal = await fetch(info["sealEndpoint"], pair.consumer, info["authorization"])
        assert seal.status == 200  # from now on the provider refuses even a resume: it counts the data delivered
        refused = await fetch(info["endpoint"], pair.consumer, info["authorization"], headers=resume)
        assert refused.status == 410 and refused.json()["code"] == "dataplane.delivered"

        ran = await acli("transfer", agreement, "--out", str(out), "--config", str(pair.ccfg), "--json")
        assert ran.returncode == 1, ran.stderr + ran.stdout
        error = json.loads(ran.stdout)["error"]
        assert error["code"] == "pull.undelivered", error
        assert f"held only {short} of its {len(data)} bytes" in error["reason"], error
        tail = "the part is discarded and the transfer TERMINATED; request a new transfer (running this command again"
        assert error["reason"].endswith(tail + " does)"), error
        assert not out.exists() and not list(pair.tmp.glob("big-copy.bin.part*"))
        ended = await wait_state(pair.cm, transfer["id"], "TERMINATED")
        assert f"held only {short} of its {len(data)} bytes" in ended["reason"], ended
        history = (await pair.cm.call("GET", f"/v1/transfers/{transfer['id']}", None, 200))["history"]
        assert not any(h["cause"] == "seal refused" for h in history), history
        await wait_state(pair.pm, transfer["providerPid"], "TERMINATED")

        plain = await acli("transfer", agreement, "--out", str(out), "--config", str(pair.ccfg))
        assert plain.returncode == 0, plain.stderr  # a new transfer, from the start
        assert out.read_bytes() == data
        states = [t["state"] for t in (await pair.cm.call("GET", "/v1/transfers?role=consumer", None, 200))["items"]]
        assert sorted(states) == ["COMPLETED", "TERMINATED"], states


def _refresh(info: dict) -> str:
    return info["endpoint"] + "/token"


async def test_a_tampered_byte_is_caught_by_the_seal_and_ends_the_transfer(pair):
    _big_file(pair.root / "big.bin")
    out = pair.tmp / "big-copy.bin"
    async with both(pair):
        agreement = await agree(pair, "big", {"type": "file", "path": "big.bin"})
        await _start_and_kill(pair, agreement, out)
        part = out.with_name(out.name + ".part")
        with open(part, "r+b") as f:
            f.seek(1000)
            byte = f.read(1)
            f.seek(1000)
            f.write(bytes([byte[0] ^ 0x01]))
        ran = await acli("transfer", agreement, "--out", str(out), "--config", str(pair.ccfg))
        assert ran.returncode == 1, ran.stderr + ran.stdout
        lines = ran.stderr.strip().splitlines()
        assert lines[-1].startswith("connector: refused: the provider's seal was refused: the data's SHA-256")
        assert not out.exists() and not part.exists()
        transfers = await pair.cm.call("GET", "/v1/transfers?role=consumer", None, 200)
        ended = transfers["items"][0]
        assert ended["state"] == "TERMINATED" and "seal was refused" in ended["reason"]
        await wait_state(pair.pm, ended["providerPid"], "TERMINATED")


async def test_connector_fetch_does_catalogue_negotiation_and_transfer_in_one_command(pair):
    data = os.urandom(300_000)
    (pair.root / "one.bin").write_bytes(data)
    pair.ccfg.write_text(
        pair.ccfg.read_text()
        + f"""
[[peers]]
name = "provider"
address = "https://localhost:{pair.provider.protocol_port}/dsp/2025-1"
participant_id = "{pair.provider.participant_id}"
"""
    )
    out = pair.tmp / "one-copy.bin"
    async with both(pair):
        await pair.pm.call("POST", "/v1/assets", {"id": "one", "source": {"type": "file", "path": "one.bin"}}, 201)
        await pair.pm.call("POST", "/v1/policies", {"id": "use", "policy": {"permission": [{"action": "use"}]}}, 201)
        await pair.pm.call("POST", "/v1/offers", {"id": "one-offer", "assetId": "one", "contractPolicyId": "use"}, 201)
        ran = await acli("fetch", "provider", "one", "--out", str(out), "--config", str(pair.ccfg))
        assert ran.returncode == 0, ran.stderr
        assert out.read_bytes() == data and "COMPLETED" in ran.stdout
        missing = await acli("fetch", "provider", "nothing", "--out", str(pair.tmp / "x"), "--config", str(pair.ccfg))
        assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
        assert "offers no dataset 'nothing'" in missing.stderr
        again = await acli("fetch", "provider", "one", "--out", str(out), "--config", str(pair.ccfg))
        assert again.returncode == 2 and "already exists" in again.stderr


async def test_a_transfer_the_provider_refuses_exits_1_with_the_reason(pair):
    (pair.root / "r.bin").write_bytes(b"r")
    out = pair.tmp / "r-copy.bin"
    async with both(pair):
        agreement = await agree(pair, "r", {"type": "file", "path": "r.bin"})
        await pair.pm.call("DELETE", "/v1/offers/r-offer", None, 204)
        await pair.pm.call("DELETE", "/v1/assets/r", None, 204)
        ran = await acli("transfer", agreement, "--out", str(out), "--config", str(pair.ccfg))
        assert ran.returncode == 1, ran.stderr
        assert len(ran.stderr.strip().splitlines()) == 1 and "no longer offered" in ran.stderr
        unknown = await acli("transfer", "urn:uuid:none", "--out", str(out), "--config", str(pair.ccfg))
        assert unknown.returncode == 2 and "no agreement" in unknown.stderr


async def test_connector_transfer_waits_through_a_suspension_and_continues(pair):
    import asyncio
    import sys

    data = _big_file(pair.root / "big.bin")
    out = pair.tmp / "big-copy.bin"
    part = out.with_name(out.name + ".part")
    async with both(pair):
        agreement = await agree(pair, "big", {"type": "file", "path": "big.bin"})
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "connector",
            "transfer",
            agreement,
            "--out",
            str(out),
            "--config",
            str(pair.ccfg),
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not (part.exists() and part.stat().st_size >= 2 * 1024 * 1024):
            assert proc.returncode is None and loop.time() < deadline
            await asyncio.sleep(0.001)
        provider_side = (await pair.pm.call("GET", "/v1/transfers?role=provider", None, 200))["items"][0]
        await pair.pm.call("POST", f"/v1/transfers/{provider_side['id']}/suspend", {"reason": "maintenance"}, 200)
        await wait_state(pair.pm, provider_side["id"], "SUSPENDED")
        await asyncio.sleep(0.3)
        assert proc.returncode is None  # waiting, not failing
        await pair.pm.call("POST", f"/v1/transfers/{provider_side['id']}/resume", None, 200)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, stderr.decode()
        assert "continuing at byte" in stderr.decode()
        assert out.read_bytes() == data and json.loads(stdout)["completed"] is True


def _with_peer(pair) -> None:
    pair.ccfg.write_text(
        pair.ccfg.read_text()
        + f"""
[[peers]]
name = "provider"
address = "https://localhost:{pair.provider.protocol_port}/dsp/2025-1"
participant_id = "{pair.provider.participant_id}"
"""
    )


async def test_fetch_reuse_takes_the_agreement_already_concluded(pair):
    data = os.urandom(10_000)
    (pair.root / "one.bin").write_bytes(data)
    _with_peer(pair)
    out = pair.tmp / "one-copy.bin"
    fetch = ["fetch", "provider", "one", "--out", str(out), "--overwrite", "--config", str(pair.ccfg)]
    async with both(pair):
        await pair.pm.call("POST", "/v1/assets", {"id": "one", "source": {"type": "file", "path": "one.bin"}}, 201)
        await pair.pm.call("POST", "/v1/policies", {"id": "use", "policy": {"permission": [{"action": "use"}]}}, 201)
        await pair.pm.call("POST", "/v1/offers", {"id": "one-offer", "assetId": "one", "contractPolicyId": "use"}, 201)

        first = await acli(*fetch, "--reuse")  # nothing to reuse yet: it negotiates
        assert first.returncode == 0, first.stderr
        assert "no FINALIZED agreement for this dataset with this peer yet: negotiating" in first.stderr
        agreement = next(line for line in first.stderr.splitlines() if line.startswith("agreement ")).split()[1]

        again = await acli(*fetch, "--reuse")
        assert again.returncode == 0, again.stderr
        assert f"reusing agreement {agreement}" in again.stderr and out.read_bytes() == data
        by_url = [*fetch, "--reuse"]
        by_url[1] = f"https://localhost:{pair.provider.protocol_port}/dsp/2025-1"
        assert f"reusing agreement {agreement}" in (await acli(*by_url)).stderr
        negotiations = await pair.cm.call("GET", "/v1/negotiations?role=consumer", None, 200)
        assert negotiations["total"] == 1
        transfers = await pair.cm.call("GET", f"/v1/transfers?agreementId={agreement}", None, 200)
        assert [t["state"] for t in transfers["items"]] == ["COMPLETED"] * 3

        # Another declared purpose is another agreement; without --reuse, always a new one.
        purposed = await acli(*fetch, "--reuse", "--purpose", "research")
        assert purposed.returncode == 0 and "negotiating" in purposed.stderr, purposed.stderr
        assert (await acli(*fetch)).returncode == 0
        negotiations = await pair.cm.call("GET", "/v1/negotiations?role=consumer", None, 200)
        assert negotiations["total"] == 3


async def test_ctrl_c_during_a_transfer_says_how_to_resume_and_exits_130(pair):
    import asyncio
    import shlex
    import signal
    import sys

    data = _big_file(pair.root / "big.bin")
    out = pair.tmp / "big-copy.bin"
    part = out.with_name(out.name + ".part")
    async with both(pair):
        agreement = await agree(pair, "big", {"type": "file", "path": "big.bin"})
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "connector",
            "transfer",
            agreement,
            "--out",
            str(out),
            "--config",
            str(pair.ccfg),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not (part.exists() and part.stat().st_size >= 2 * 1024 * 1024):
            assert proc.returncode is None and loop.time() < deadline
            await asyncio.sleep(0.001)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 130, stderr.decode()
        last = stderr.decode().strip().splitlines()[-1]
        assert last.startswith("connector: interrupted: the transfer stopped; the data received so far is kept")
        command = shlex.split(last.split("continues from there: ", 1)[1])
        assert command == ["connector", "transfer", agreement, "--out", str(out), "--config", str(pair.ccfg)]
        assert part.exists() and not out.exists() and stdout == b""

        resumed = await acli(*command[1:], "--json")
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["resumedFrom"] > 0 and "continuing transfer" in resumed.stderr
        assert out.read_bytes() == data
