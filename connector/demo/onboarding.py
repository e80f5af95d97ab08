"""Bringing the demo's organisations into their federations the way operators would, once the authorities run:
each enrols its own signing requests with its authority's service (`connector pki enrol`), starts its node, and
asks the issuer service for its credentials (`connector credentials request`), which the issuer delivers to the
node's credential service. Each command runs as its organisation (with its place's command prefix), and is
tried again while the authority is still starting."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from connector.demo.workspace import Workspace
from connector.errors import ConnectorError

CREDENTIAL_TYPES = ("MembershipCredential", "OrganizationCredential")
EXIT_UNREACHABLE = 3


async def run_as(party: dict[str, Any], cwd: Path, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    """`connector <args>` run as a party (its command prefix first, e.g. a network namespace)."""
    proc = await asyncio.create_subprocess_exec(
        *party.get("run", []),
        sys.executable,
        "-m",
        "connector",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return EXIT_UNREACHABLE, "", f"no answer within {timeout:g} s"
    return proc.returncode or 0, out.decode(), err.decode()


def enrolled(ws: Workspace, org: dict[str, Any]) -> bool:
    return (ws.path(org["dir"]) / "identity" / "tls.cert.pem").exists()


async def enrol(ws: Workspace, org: dict[str, Any], timeout: float = 60.0) -> str:
    """Enrol an organisation's signing requests with its authority; returns what the command said."""
    authority = ws.authority(org["federation"])
    folder = Path(org["dir"])
    args = (
        "pki",
        "enrol",
        "--authority-url",
        authority["publicUrl"],
        "--anchor",
        str(folder / "anchors" / Path(authority["caCertificate"]).name),
        "--identity",
        str(folder / "identity"),
        "--wait",
        "5",
    )
    deadline = time.monotonic() + timeout
    while True:
        code, out, err = await run_as(org, ws.dir, *args)
        if code == 0:
            return out.strip()
        if code != EXIT_UNREACHABLE or time.monotonic() > deadline:
            raise ConnectorError("demo.enrol_failed", f"{org['name']} could not enrol: {err.strip() or out.strip()}")
        await asyncio.sleep(1.0)


async def request_credentials(ws: Workspace, org: dict[str, Any], timeout: float = 60.0) -> str:
    """Ask the organisation's authority for its membership and organisation credentials, through its node."""
    authority = ws.authority(org["federation"])
    args = ["credentials", "request", "--issuer", authority["publicUrl"], "--wait", "30", "--config", org["config"]]
    for credential_type in CREDENTIAL_TYPES:
        args += ["--type", credential_type]
    deadline = time.monotonic() + timeout
    while True:
        code, out, err = await run_as(org, ws.dir, *args)
        if code == 0:
            return out.strip()
        if code != EXIT_UNREACHABLE or time.monotonic() > deadline:
            raise ConnectorError(
                "demo.credentials_failed", f"{org['name']} got no credentials: {err.strip() or out.strip()}"
            )
        await asyncio.sleep(1.0)
