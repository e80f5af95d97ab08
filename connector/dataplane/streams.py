"""The data plane's open streams, by transfer, so that a suspension or an end stops them at once.

Each open pull response, push receipt and push sender registers here while it runs, with the peer's certificate
once it is known. `halt` marks them stopped and aborts their connection (or cancels their task): the peer sees
the stream break mid-way, not a clean end, so a half-sent representation can never pass for a complete one.
The standing watchdog (`data_plane.DataPlane`) goes through `transfers` to halt the streams of a peer that is no
longer in standing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

log = logging.getLogger("connector.dataplane")

NEWER_PULL = "a newer pull of this transfer took its place"


@dataclass(eq=False)
class OpenStream:
    transfer_id: str
    what: str  # "pull", "push-in", "push-out"
    transport: Any = None  # asyncio transport to abort
    task: asyncio.Task[Any] | None = None  # or a task to cancel
    stopped: str | None = None  # why it was stopped, once it is
    certificate: x509.Certificate | None = None  # the peer's, once known (the standing watchdog checks it)


@dataclass
class OpenStreams:
    _by_transfer: dict[str, set[OpenStream]] = field(default_factory=dict)

    def open(
        self,
        transfer_id: str,
        what: str,
        *,
        transport: Any = None,
        task: asyncio.Task[Any] | None = None,
        certificate: x509.Certificate | None = None,
    ) -> OpenStream:
        stream = OpenStream(transfer_id, what, transport, task, certificate=certificate)
        self._by_transfer.setdefault(transfer_id, set()).add(stream)
        return stream

    def close(self, stream: OpenStream) -> None:
        streams = self._by_transfer.get(stream.transfer_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._by_transfer[stream.transfer_id]

    def count(self, transfer_id: str) -> int:
        return len(self._by_transfer.get(transfer_id, ()))

    def transfers(self) -> dict[str, tuple[OpenStream, ...]]:
        """The streams open now, by transfer (a copy: halting while going through it is fine)."""
        return {tid: tuple(streams) for tid, streams in self._by_transfer.items()}

    def halt(self, transfer_id: str, why: str, what: str | None = None) -> int:
        """Stop every stream of the transfer (of kind `what` only, when given) now; returns how many there were."""
        held = self._by_transfer.get(transfer_id, set())
        streams = {s for s in held if what is None or s.what == what}
        held -= streams
        if not held:
            self._by_transfer.pop(transfer_id, None)
        for stream in streams:
            stream.stopped = why
            if stream.transport is not None and not stream.transport.is_closing():
                stream.transport.abort()
            if stream.task is not None and not stream.task.done():
                stream.task.cancel()
        if streams:
            log.info("data streams stopped", extra={"transfer": transfer_id, "streams": len(streams), "why": why})
        return len(streams)

    def halt_all(self, why: str) -> None:
        for transfer_id in list(self._by_transfer):
            self.halt(transfer_id, why)
