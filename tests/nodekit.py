"""Test kit: real PKIs made with the project's own tooling, node configurations, nodes on loopback ports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from connector.config import load_config
from connector.free_port import free_port
from connector.node.wiring import RunningNode, running
from connector.pki.authority import Authority

API_KEY = "test-api-key-0123456789abcdef"


@dataclass
class Participant:
    name: str
    participant_id: str
    dir: Path
    authority: Authority
    protocol_port: int
    management_port: int

    @property
    def tls_cert(self) -> Path:
        return self.dir / "tls.cert.pem"

    @property
    def tls_key(self) -> Path:
        return self.dir / "tls.key.pem"

    def client_ssl(self, trust: list[Path] | None = None) -> ssl.SSLContext:
        """A client context presenting this participant's certificate."""
        ctx = ssl.create_default_context(cafile=str(self.authority.ca_cert_path))
        for extra in trust or []:
            ctx.load_verify_locations(cafile=str(extra))
        ctx.load_cert_chain(self.tls_cert, self.tls_key)
        return ctx

    def server_ssl(self) -> ssl.SSLContext:
        """A server context presenting this participant's certificate to clients its authority certified."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.authority.ca_cert_path))
        ctx.load_cert_chain(self.tls_cert, self.tls_key)
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


def make_participant(
    authority: Authority, root: Path, name: str, country: str = "DE", protocol_port: int | None = None
) -> Participant:
    port = protocol_port or free_port()
    pid = f"did:web:localhost%3A{port}:{name}"
    out = root / name
    authority.issue_participant(pid, ["localhost", "127.0.0.1"], out, country=country, organisation=name.title())
    return Participant(name, pid, out, authority, port, free_port())


def write_config(
    participant: Participant, root: Path, cas: list[Path] | None = None, crls: list[Path] | None = None, extra: str = ""
) -> Path:
    cas = cas or [participant.authority.ca_cert_path]
    crls = crls or [participant.authority.crl_path]
    d = participant.dir
    text = f"""
[node]
participant_id = "{participant.participant_id}"
name = "{participant.name}"
data_dir = "{root / ("var-" + participant.name)}"

[identity]
tls_cert = "{d / "tls.cert.pem"}"
tls_key = "{d / "tls.key.pem"}"
signing_key = "{d / "signing.key.pem"}"
signing_cert = "{d / "signing.cert.pem"}"

[protocol]
listen = "127.0.0.1:{participant.protocol_port}"

[management]
listen = "127.0.0.1:{participant.management_port}"
api_key = "{API_KEY}"

[trust]
ca = [{", ".join(f'"{p}"' for p in cas)}]
crl = [{", ".join(f'"{p}"' for p in crls)}]
reload_interval = 0.2

[log]
level = "warning"
{extra}
"""
    path = root / f"{participant.name}.toml"
    path.write_text(text)
    return path


def provider_and_consumer(
    authority: Authority, root: Path, provider_extra: str = "", consumer_extra: str = ""
) -> tuple[Participant, Participant, Path, Path]:
    """Two members of `authority`, "provider" and "consumer", and their configurations."""
    provider = make_participant(authority, root, "provider")
    consumer = make_participant(authority, root, "consumer")
    return (
        provider,
        consumer,
        write_config(provider, root, extra=provider_extra),
        write_config(consumer, root, extra=consumer_extra),
    )


def dsp_settings(**settings: float) -> str:
    """A `[dsp]` table of a configuration (retry times, deadlines, message spacing)."""
    return "\n[dsp]\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())


def offered_weather(policy_id: str = "weather-contract", url: str = "http://127.0.0.1:9/data", title: str = "") -> str:
    """Configuration offering the dataset "weather" as "weather-offer" under a plain use policy: unlike an offer made
    through the API, it is there from the node's first answer on."""
    title_line = f'title = "{title}"\n' if title else ""
    return f"""
[[assets]]
id = "weather"
{title_line}source = {{type = "http", url = "{url}"}}
[[policies]]
id = "{policy_id}"
policy = {{permission = [{{action = "use"}}]}}
[[offers]]
id = "weather-offer"
asset = "weather"
contract_policy = "{policy_id}"
"""


# The offer of `offered_weather()` as a consumer spells it in its request.
WEATHER_OFFER = {"@id": "weather-offer", "@type": "Offer", "target": "weather", "permission": [{"action": "use"}]}


def peer_entry(participant: Participant, name: str = "provider") -> str:
    """A `[[peers]]` entry naming `participant`, as the CLI's commands refer to it."""
    return f"""
[[peers]]
name = "{name}"
address = "https://localhost:{participant.protocol_port}/dsp/2025-1"
participant_id = "{participant.participant_id}"
"""


@contextlib.asynccontextmanager
async def running_node(config_path: Path, **overrides: Any) -> AsyncIterator[RunningNode]:
    async with running(load_config(config_path, environ={})) as node:
        yield node


@contextlib.asynccontextmanager
async def serving_as(participant: Participant, handler: Any) -> AsyncIterator[None]:
    """A stand-in for `participant`'s node on its protocol port, with its certificate: `handler` answers every
    request."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", participant.protocol_port, ssl_context=participant.server_ssl()).start()
        yield
    finally:
        await runner.cleanup()


async def get(url: str, ssl_ctx: ssl.SSLContext | bool | None = None, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, ssl=ssl_ctx if ssl_ctx is not None else False, **kw) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = await resp.text()
            return resp.status, body


async def wait_for(predicate: Any, timeout: float = 5.0, interval: float = 0.02) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


class Management:
    """A tiny client of a node's management API (what the CLI and people use)."""

    def __init__(self, participant: Participant) -> None:
        self.base = f"http://127.0.0.1:{participant.management_port}"

    async def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.base + path, json=body, headers={"X-Api-Key": API_KEY}) as resp:
                text = await resp.text()
                data = None
                if text:
                    import json

                    data = json.loads(text)
                if expect is not None and resp.status != expect:
                    raise AssertionError(f"{method} {path}: {resp.status} {text}")
                return data

    async def offer(
        self,
        asset_id: str,
        policy: dict[str, Any] | None = None,
        source: dict[str, Any] | None = None,
        access: dict[str, Any] | None = None,
        offer_id: str | None = None,
    ) -> str:
        await self.call(
            "POST",
            "/v1/assets",
            {
                "id": asset_id,
                "title": f"Dataset {asset_id}",
                "source": source or {"type": "http", "url": "http://127.0.0.1:9/data"},
            },
            201,
        )
        await self.call(
            "POST",
            "/v1/policies",
            {"id": f"{asset_id}-contract", "policy": policy or {"permission": [{"action": "use"}]}},
            201,
        )
        body = {"id": offer_id or f"{asset_id}-offer", "assetId": asset_id, "contractPolicyId": f"{asset_id}-contract"}
        if access is not None:
            await self.call("POST", "/v1/policies", {"id": f"{asset_id}-access", "policy": access}, 201)
            body["accessPolicyId"] = f"{asset_id}-access"
        await self.call("POST", "/v1/offers", body, 201)
        return body["id"]

    async def start_negotiation(
        self, provider: Participant, offer_id: str = "weather-offer", dataset_id: str = "weather", **extra: Any
    ) -> str:
        """Ask the node to negotiate for an offer of `provider`; the negotiation's id, without waiting for it."""
        neg = await self.call(
            "POST",
            "/v1/negotiations",
            {
                "counterPartyAddress": f"https://localhost:{provider.protocol_port}/dsp/2025-1",
                "counterPartyId": provider.participant_id,
                "offerId": offer_id,
                "datasetId": dataset_id,
                **extra,
            },
            201,
        )
        return str(neg["id"])

    async def negotiate(self, provider: Participant, offer_id: str, dataset_id: str, **extra: Any) -> dict[str, Any]:
        return await self.await_negotiation(await self.start_negotiation(provider, offer_id, dataset_id, **extra))

    async def await_negotiation(
        self, negotiation_id: str, states: str = "FINALIZED,TERMINATED", timeout: int = 20
    ) -> dict[str, Any]:
        """The negotiation as the node answers once it is in one of `states` (or after `timeout` seconds)."""
        return await self.call("GET", f"/v1/negotiations/{negotiation_id}?wait={states}&timeout={timeout}", None, 200)


class NodeProcess:
    """A node run as its own process (`connector serve`), as operators run it."""

    def __init__(self, config: Path, participant: Participant) -> None:
        self.config = config
        self.participant = participant
        self.proc: Any = None

    def start(self, timeout: float = 20.0) -> NodeProcess:
        import subprocess
        import sys
        import time
        import urllib.request

        self.log = open(self.config.with_suffix(".log"), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "connector", "serve", "--config", str(self.config)], stdout=self.log, stderr=self.log
        )
        deadline = time.time() + timeout
        url = f"http://127.0.0.1:{self.participant.management_port}/check/readiness"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"node did not start: {self.config.with_suffix('.log').read_text()[-2000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        import signal

        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> int:
        import signal

        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout=30)
        return self.proc.returncode if self.proc else 0


def in_fresh_process(code: str) -> Any:
    """What `code` prints as JSON when run by a Python process of its own (what an import loads is seen there)."""
    import json

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@dataclass(frozen=True)
class Ran:
    """What a `connector` command run in its own process did."""

    returncode: int
    stdout: str
    stderr: str


def cli_environment() -> dict[str, str]:
    """The test run's environment without any CONNECTOR_* variable, which would change what the command reads."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR")}


def cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> Ran:
    """`connector ...` in its own process, waited for (no node of this event loop has to answer it)."""
    done = subprocess.run(
        [sys.executable, "-m", "connector", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_environment(),
        timeout=timeout,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


# `connector ...` as `python -m connector` runs it, then the most memory its process took once it was this
# program: VmHWM, which starts anew with the program (a forked process's rusage counts its parent's pages too).
_MEASURED = """
import os, sys
from connector.cli.main import main
status = main(sys.argv[1:])
with open("/proc/self/status") as lines:
    peak = next(line for line in lines if line.startswith("VmHWM:")).split()[1]
with open(os.environ["MEASURED_PEAK_FILE"], "w") as out:
    out.write(peak)
sys.exit(status)
"""


def cli_measured(*args: str, folder: Path, timeout: float = 300) -> tuple[Ran, int]:
    """`cli(*args)`, and the most memory (resident, bytes) the command's process took."""
    peak = folder / "cli.peak"
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, *args],
        capture_output=True,
        text=True,
        env={**cli_environment(), "MEASURED_PEAK_FILE": str(peak)},
        timeout=timeout,
    )
    return Ran(done.returncode, done.stdout, done.stderr), int(peak.read_text()) * 1024


async def acli(*args: str, cwd: Path | None = None, timeout: float = 120) -> Ran:
    """`connector ...` in its own process, without blocking the event loop (so in-process nodes can answer it)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "connector",
        *args,
        cwd=cwd,
        env=cli_environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())
