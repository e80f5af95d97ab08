"""The peer's standing while data flows: what a refusal does to a transfer, and the watchdog over open streams.

A transfer is admitted on what was verified when it was requested; data flows later, for a long time. So the
data plane asks the `PeerStanding` port again (the certificate against the CRLs in force, the stored credentials
re-checked: validity, issuers on the trust lists in force, status lists) at every fresh token and every pull,
and, for every stream in progress, every ``data.standing_interval`` seconds. A peer no longer in standing has
its streams halted at once and its transfer ended (TERMINATED, the peer told, the reason in the history and the
evidence log). When the standing could not be decided right now (a status list that cannot be fetched: a code
ending in ``.unavailable``) the streams are halted too - nothing flows on an unknown standing - but the transfer
stays STARTED: the consumer resumes once the standing can be established again.

A revoked certificate is seen within ``trust.reload_interval`` (the CRL files are re-read) plus the watchdog's
interval; a revoked credential within ``trust.status_max_age`` plus the interval.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from connector.errors import ConnectorError, Problem
from connector.evidence.chain import STANDING_REFUSED

if TYPE_CHECKING:
    from connector.dataplane.data_plane import DataPlane
    from connector.dataplane.streams import OpenStream

log = logging.getLogger("connector.dataplane")

__all__ = ["STANDING_REFUSED", "StandingWatch", "out_of_standing", "transient"]


def transient(problem: Problem) -> bool:
    """A standing that could not be decided now (fetch again later), rather than one that no longer holds."""
    return problem.code.endswith(".unavailable")


def out_of_standing(problem: Problem) -> str:
    """The reason a transfer ends with, as the peer and the history are told."""
    return f"the peer is no longer in standing: {problem.reason} ({problem.code})"


class StandingWatch:
    """Re-checks the peer of every open stream every `interval` seconds (one task for the whole data plane)."""

    def __init__(self, plane: DataPlane, interval: float) -> None:
        self.plane = plane
        self.interval = interval

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check_all()

    async def check_all(self) -> None:
        for transfer_id, streams in self.plane.streams.transfers().items():
            try:
                await self.check(transfer_id, streams)
            except asyncio.CancelledError:
                raise
            except Exception:  # one transfer's trouble must not leave the others unwatched: log it, go on
                log.exception("standing of a stream's peer not checked", extra={"transfer": transfer_id})

    async def check(self, transfer_id: str, streams: tuple[OpenStream, ...]) -> None:
        plane = self.plane
        tp = await plane.transfer(transfer_id)
        if tp is None or tp.is_terminal:
            return
        certificate = next((s.certificate for s in streams if s.certificate is not None), None)
        path = plane.pull_endpoint(transfer_id) if streams[0].what == "pull" else plane.push_endpoint(transfer_id)
        problem = await plane.standing.standing(tp.peer_id, tp.claims, certificate, method="STREAM", path=path)
        if problem is None:
            return
        why = out_of_standing(problem)
        halted = plane.streams.halt(transfer_id, why)
        log.warning(
            "streams halted: the peer is no longer in standing",
            extra={"transfer": transfer_id, "peer": tp.peer_id, "code": problem.code, "streams": halted},
        )
        await plane.store.run(plane.note_standing, transfer_id, problem, "stream")
        if not transient(problem):
            try:
                await plane.control.transfer_command(transfer_id, "terminate", why)
            except ConnectorError as exc:  # it ended meanwhile
                log.info("transfer not terminated", extra={"transfer": transfer_id, "reason": exc.reason})
