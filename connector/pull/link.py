"""The puller's `NodeLink` over the management API, for any client of it (the command line, the console).

`call(method, path, body, timeout)` is the client's own way to the API; it answers the API's JSON or raises a
ConnectorError carrying the problem's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from connector.errors import ConnectorError
from connector.pull.client import NotRunning, ProviderAway, PullRefused
from connector.pull.waiting import Call, wait_for_state

# The node could not reach the provider, or could not answer now: the puller tries again for a while.
AWAY_CODES = frozenset({"peer.unreachable", "peer.unavailable"})
AWAY_STATUSES = frozenset({503, 504})


def _away(exc: ConnectorError) -> bool:
    return exc.code in AWAY_CODES or getattr(exc, "status", None) in AWAY_STATUSES


class ManagementLink:
    def __init__(self, call: Call) -> None:
        self.call = call

    @staticmethod
    def _path(transfer_id: str, tail: str = "") -> str:
        return f"/v1/transfers/{quote(transfer_id, safe='')}{tail}"

    async def access(self, transfer_id: str) -> Mapping[str, Any]:
        try:
            return await self.call("POST", self._path(transfer_id, "/token"), None, 60)
        except ConnectorError as exc:
            if exc.code == "transfer.invalid_state":
                raise NotRunning(exc.code, exc.reason) from None
            if _away(exc):
                raise ProviderAway(exc.code, exc.reason) from None
            raise

    async def wait_running(self, transfer_id: str, timeout: float) -> Mapping[str, Any]:
        return await wait_for_state(self.call, self._path(transfer_id), ("STARTED",), timeout)

    async def report_seal(self, transfer_id: str, report: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            return await self.call("POST", self._path(transfer_id, "/seal"), dict(report), 60)
        except ConnectorError as exc:
            if exc.code.startswith("seal."):
                raise PullRefused(exc.code, exc.reason) from None
            raise

    async def terminate(self, transfer_id: str, reason: str) -> Mapping[str, Any]:
        return await self.call("POST", self._path(transfer_id, "/terminate"), {"reason": reason}, 60)

    async def complete(self, transfer_id: str, file: Path) -> Mapping[str, Any]:
        # The node records where the data went, to carry out the agreement's duties on it (deletion when due).
        return await self.call("POST", self._path(transfer_id, "/complete"), {"file": str(file)}, 60)
