"""One party of the compose data space, run in its own container (`connector demo party PARTY --serve`): an
authority's service, or an organisation that enrols the signing requests it made with its own keys, runs its
node and asks its authority's issuer service for its credentials. Each step is tried again while the other
party is still starting (containers start in any order)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from connector.demo.onboarding import CREDENTIAL_TYPES
from connector.demo.workspace import derived
from connector.errors import ConnectorError
from connector.node.wiring import RunningNode

log = logging.getLogger("connector.demo")
RETRY = 2.0


async def serve(workdir: Path, party: str) -> None:
    """Make the party's folder (an organisation waits until its authorities have published their roots, trust
    lists and recognitions), then run it until SIGTERM."""
    from connector.config import load_config, parse_listen
    from connector.demo.workspace import create_party
    from connector.log import setup_logging

    setup_logging("info")
    while True:
        try:
            folder = create_party(workdir, party)
            break
        except ConnectorError as exc:
            if exc.code != "demo.not_published":
                raise
            log.info("waiting for the authorities: %s", exc.reason)
            await asyncio.sleep(RETRY)
    log.info("party folder ready", extra={"party": party, "folder": str(folder)})
    ws = derived(workdir, "compose")
    for authority in ws.data["authorities"]:
        if authority["service"] == party:
            from connector.authority.service import serve as serve_authority

            listen = parse_listen(authority["listen"], "listen")
            recognising = asyncio.create_task(sign_recognition(workdir, ws.data, authority))
            try:
                await serve_authority(ws.path(authority["dir"]), listen, timedelta(seconds=60))
            finally:
                recognising.cancel()
            return
    org = ws.organisation(party)
    authority = ws.authority(org["federation"])
    folder = ws.path(org["dir"])
    await _enrol(
        authority["publicUrl"], folder / "anchors" / Path(authority["caCertificate"]).name, folder / "identity"
    )
    from connector.node.wiring import running
    from connector.signals import on_hangup, until_stopped

    # SIGHUP reloads as with `connector serve` (`kill -s HUP` on the container).
    async with running(load_config(folder / "node.toml")) as node, on_hangup(node.reload):
        await _credentials(node, authority["publicUrl"])
        await until_stopped()


async def sign_recognition(workdir: Path, data: dict[str, Any], authority: dict[str, Any]) -> None:
    """Sign this authority's recognition of the other federation once that one's trust list is published: the
    other authority's container may start later, and organisations wait for both recognitions."""
    from connector.demo.workspace import recognise

    while True:
        recognise(workdir, data, authority["key"])
        if (workdir / authority["recognition"]).exists():
            break
        log.info("waiting for the other federation's trust list, to sign the recognition")
        await asyncio.sleep(RETRY)
    log.info("recognition published", extra={"statement": authority["recognition"]})


async def _enrol(url: str, anchor: Path, identity: Path) -> None:
    from connector.pki.enrolment import enrol

    if (identity / "tls.cert.pem").exists():
        return
    request_id = None
    while True:
        try:
            result = await enrol(url, anchor, identity, 5.0, request_id)
        except ConnectorError as exc:
            log.info("enrolment not done yet: %s", exc.reason)
            await asyncio.sleep(RETRY)
            continue
        if result.status == "ISSUED":
            log.info("enrolled", extra={"request": result.request_id})
            return
        if result.status == "REJECTED":
            raise ConnectorError("demo.enrol_rejected", f"the authority rejected the enrolment: {result.reason}")
        request_id = result.request_id
        log.info("enrolment waits for the authority's operator", extra={"request": request_id})


async def _credentials(node: RunningNode, url: str) -> None:
    holder, issuance = node.trust.holder, node.trust.issuance
    assert holder is not None and issuance is not None
    while not set(CREDENTIAL_TYPES) <= holder.types():
        try:
            await issuance.request(url, list(CREDENTIAL_TYPES))
        except ConnectorError as exc:
            log.info("credentials not asked yet: %s", exc.reason)
            await asyncio.sleep(RETRY)
            continue
        for _ in range(30):
            if set(CREDENTIAL_TYPES) <= holder.types():
                break
            await asyncio.sleep(1.0)
    log.info("credentials held", extra={"types": sorted(holder.types())})
