"""Running the demo's data space: each authority service and each node is its own process (run with its party's
command prefix: on this machine, or in the network namespace of its host), logging into the workspace's `logs/`
folder, stopped with SIGTERM (SIGKILL only if it does not stop).

Start-up is the parties' onboarding: the authorities start; each organisation enrols its signing requests with
its authority (once); the nodes start; each organisation asks its authority's issuer service for its credentials
(when its node holds none yet)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from connector.demo import onboarding
from connector.demo.workspace import Workspace
from connector.errors import ConnectorError


async def answers(session: aiohttp.ClientSession, url: str) -> bool:
    """Whether `url` answers 200 now (a readiness probe: the certificate is not checked)."""
    try:
        async with session.get(url, ssl=False) as resp:
            return resp.status == 200
    except (TimeoutError, aiohttp.ClientError, OSError):
        return False


@dataclass
class Service:
    name: str
    command: list[str]
    ready_url: str
    log: Path
    process: subprocess.Popen[bytes] | None = None
    kind: str = "node"  # node | authority

    def start(self, cwd: Path) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.log, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            self.command, cwd=cwd, stdout=handle, stderr=handle, env=env, start_new_session=True
        )  # Ctrl-C in the terminal reaches only the demo
        handle.close()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 15.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def last_lines(self, count: int = 8) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-count:])
        except FileNotFoundError:
            return ""


@dataclass
class DataSpace:
    workspace: Workspace
    services: list[Service] = field(default_factory=list)

    @classmethod
    def of(cls, workspace: Workspace) -> DataSpace:
        exe = [sys.executable, "-m", "connector"]
        services = []
        for auth in workspace.data["authorities"]:
            services.append(
                Service(
                    auth["service"],
                    auth.get("run", [])
                    + exe
                    + [
                        "authority",
                        "serve",
                        "--dir",
                        auth["dir"],
                        "--listen",
                        auth["listen"],
                        "--status-validity",
                        "60",
                    ],
                    f"{auth['publicUrl']}/health",
                    workspace.path(f"logs/{auth['service']}.log"),
                    kind="authority",
                )
            )
        for org in workspace.data["organisations"]:
            services.append(
                Service(
                    org["key"],
                    org.get("run", []) + exe + ["serve", "--config", org["config"]],
                    f"{org['management']}/check/readiness",
                    workspace.path(f"logs/{org['key']}.log"),
                )
            )
        return cls(workspace, services)

    async def start(self, timeout: float = 60.0, say: Callable[[str], None] = lambda text: None) -> float:
        """Start the authorities, onboard the organisations, start their nodes and get their credentials; wait
        until each answers. Returns the seconds it took."""
        started = time.monotonic()
        ws = self.workspace
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            for kind in ("authority", "node"):
                group = [s for s in self.services if s.kind == kind]
                if kind == "node":
                    pending = [o for o in ws.data["organisations"] if not onboarding.enrolled(ws, o)]
                    for line in await asyncio.gather(*(onboarding.enrol(ws, o) for o in pending)):
                        say(line.splitlines()[0])
                for service in group:
                    service.start(ws.dir)
                for service in group:
                    await self._wait_ready(session, service, started + timeout)
            needy = [o for o in ws.data["organisations"] if not await holds_credentials(session, ws, o)]
            for line in await asyncio.gather(*(onboarding.request_credentials(ws, o) for o in needy)):
                say(line.splitlines()[0])
        return time.monotonic() - started

    async def _wait_ready(self, session: aiohttp.ClientSession, service: Service, deadline: float) -> None:
        while True:
            if not service.running():
                raise ConnectorError(
                    "demo.start_failed", f"{service.name} exited at start; its log ends with:\n{service.last_lines()}"
                )
            if await answers(session, service.ready_url):
                return
            if time.monotonic() > deadline:
                raise ConnectorError(
                    "demo.start_timeout",
                    f"{service.name} did not become ready; its log ends with:\n{service.last_lines()}",
                )
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


async def holds_credentials(session: aiohttp.ClientSession, ws: Workspace, org: dict[str, Any]) -> bool:
    """Whether the organisation's node holds every credential type the demo gives it."""
    try:
        async with session.get(org["management"] + "/v1/credentials", headers={"X-Api-Key": ws.api_key(org)}) as resp:
            if resp.status != 200:
                return False
            held = {t for c in (await resp.json())["items"] for t in c["types"]}
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
        return False
    return set(onboarding.CREDENTIAL_TYPES) <= held
