"""Fetching from a peer, as `connector fetch` does it, in the background of the node: wait for the agreement,
request a pull transfer, pull the data with the node's own TLS identity, have the seal verified, complete.

The data lands in the node's data folder (`console/downloads/`), published only once its seal verified; the
operator downloads it from the fetch's page. Each fetch is kept in memory (the latest `KEPT`) with its stage, so
that its page can say where it is. What no page can reach any more does not fill the disk: a fetch's folder goes
when the fetch fails (a new fetch starts a new transfer: what it had pulled can never be downloaded) or leaves the
list (once it has ended), and folders left by an earlier run of the node go once they are `RETENTION` old (looked
at when the first fetch of this run starts).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.console.api import NodeApi, path
from connector.errors import ConnectorError
from connector.pull.client import Identity, Puller
from connector.pull.link import ManagementLink

KEPT = 100
RETENTION = 7 * 24 * 3600.0  # seconds a download folder of an earlier run is kept
WAIT = 120.0  # seconds to wait for an agreement, or for a transfer to start
PULL = "HttpData-PULL"
Spawn = Callable[[Coroutine[Any, Any, Any], str], Any]


@dataclass
class Fetch:
    id: str
    peer: str
    dataset_id: str
    purpose: str | None
    negotiation_id: str | None = None
    agreement_id: str | None = None
    transfer_id: str | None = None
    stage: str = "negotiating"  # negotiating, transferring, pulling, done, failed
    received: int = 0
    total: int | None = None
    file: Path | None = None
    folder: Path | None = None
    sha256: str | None = None
    size: int | None = None
    sealed_by: str | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)

    @property
    def running(self) -> bool:
        return self.stage not in ("done", "failed")


class _Progress:
    """The puller's progress, kept on the fetch for its page."""

    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch

    def begin(self, total: int | None, already: int) -> None:
        self.fetch.total = total
        self.fetch.received = already

    def update(self, done: int) -> None:
        self.fetch.received = done

    def note(self, text: str) -> None:
        return None

    def finish(self) -> None:
        return None


def _file_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")
    return name[:80] or "data"


class Fetches:
    def __init__(self, api: NodeApi, identity: Callable[[], Identity | None], downloads: Path, spawn: Spawn) -> None:
        self.api = api
        self.identity = identity
        self.downloads = downloads
        self.spawn = spawn
        self._kept: OrderedDict[str, Fetch] = OrderedDict()
        self._swept = False

    def _identity(self) -> Identity:
        """The node's TLS identity as it stands now (with the CRLs the node fetched so far)."""
        identity = self.identity()
        if identity is None:
            raise ConnectorError(
                "console.no_identity", "this node has no TLS identity to pull data with (protocol.insecure_http)"
            )
        return identity

    def get(self, fetch_id: str) -> Fetch | None:
        return self._kept.get(fetch_id)

    def recent(self) -> list[Fetch]:
        return list(reversed(self._kept.values()))

    def for_transfer(self, transfer_id: str) -> Fetch | None:
        return next((f for f in self._kept.values() if f.transfer_id == transfer_id), None)

    def start(
        self,
        peer: str,
        dataset_id: str,
        purpose: str | None,
        negotiation_id: str | None = None,
        agreement_id: str | None = None,
    ) -> Fetch:
        """Begin fetching after a negotiation (its id) or under an agreement already concluded (its id)."""
        self._identity()
        fetch = Fetch(secrets.token_hex(8), peer, dataset_id, purpose, negotiation_id, agreement_id)
        if agreement_id is not None:
            fetch.stage = "transferring"
        self._kept[fetch.id] = fetch
        while len(self._kept) > KEPT:
            _, old = self._kept.popitem(last=False)
            if not old.running:  # (one still running removes its folder when it ends)
                self._remove(old)
        if not self._swept:
            self._swept = True
            ours = {f.folder for f in self._kept.values() if f.folder is not None}
            self.spawn(asyncio.to_thread(self._sweep, time.time(), ours), "console-downloads-sweep")
        self.spawn(self._run(fetch), f"console-fetch-{fetch.id}")
        return fetch

    def _remove(self, fetch: Fetch) -> None:
        """Remove the fetch's folder: what a failed fetch pulled can be downloaded by nobody, and on a full disk it
        would keep the node's data folder full."""
        if fetch.folder is not None:
            self.spawn(asyncio.to_thread(shutil.rmtree, fetch.folder, True), f"console-fetch-{fetch.id}-removal")

    def _sweep(self, now: float, ours: set[Path]) -> None:
        """Remove the download folders of earlier runs (no fetch of this run names them) once RETENTION old."""
        try:
            entries = list(self.downloads.iterdir())
        except OSError:
            return
        for entry in entries:
            try:
                old = entry.is_dir() and not entry.is_symlink() and now - entry.stat().st_mtime > RETENTION
            except OSError:
                continue
            if old and entry not in ours:
                shutil.rmtree(entry, ignore_errors=True)

    async def _run(self, fetch: Fetch) -> None:
        try:
            await self._steps(fetch)
        except asyncio.CancelledError:
            fetch.stage, fetch.error = "failed", "the node stopped before the fetch ended"
            raise
        except ConnectorError as exc:
            fetch.stage, fetch.error = "failed", f"{exc.reason} ({exc.code})"
            self._remove(fetch)
        except OSError as exc:
            fetch.stage, fetch.error = "failed", f"the data could not be written: {exc}"
            self._remove(fetch)
        finally:
            if fetch.id not in self._kept:  # left the list while it ran: nobody can download it
                self._remove(fetch)

    async def _steps(self, fetch: Fetch) -> None:
        api = self.api
        if fetch.agreement_id is None:
            assert fetch.negotiation_id is not None
            neg = await api.call(
                "GET",
                path("/v1/negotiations", fetch.negotiation_id, wait="FINALIZED,TERMINATED", timeout=WAIT),
                timeout=WAIT + 10,
            )
            if neg.get("state") != "FINALIZED":
                reason = neg.get("reason") or f"the negotiation is {neg.get('state')}"
                raise ConnectorError("negotiation.not_finalized", str(reason))
            fetch.agreement_id = str(neg["agreementId"])
            fetch.stage = "transferring"
        started = await api.call("POST", "/v1/transfers", {"agreementId": fetch.agreement_id, "format": PULL})
        fetch.transfer_id = str(started["id"])
        record = await api.call(
            "GET", path("/v1/transfers", fetch.transfer_id, wait="STARTED", timeout=WAIT), timeout=WAIT + 10
        )
        if record.get("state") != "STARTED":
            reason = record.get("reason") or f"the transfer is {record.get('state')}"
            raise ConnectorError("transfer.not_started", str(reason))
        fetch.stage = "pulling"
        folder = self.downloads / _file_name(fetch.transfer_id.split(":")[-1])
        folder.mkdir(parents=True, exist_ok=True)
        fetch.folder = folder
        puller = Puller(
            ManagementLink(api.call),
            self._identity(),
            folder / _file_name(fetch.dataset_id),
            overwrite=True,
            progress=_Progress(fetch),
            wait_timeout=WAIT,
        )
        result = await puller.pull(fetch.transfer_id, replace_foreign=True)
        fetch.file, fetch.sha256, fetch.size = result.path, result.sha256, result.size
        fetch.sealed_by = str(result.verdict.get("issuer") or "")
        fetch.stage = "done"
        if not result.completed:
            fetch.error = f"the data is here, but the transfer could not be completed: {result.completion_error}"
