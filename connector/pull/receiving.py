"""The receiving side's hot path: network chunks into an atomic download, with one thread hop per batch.

The event loop decrypts and parses; hashing and writing happen in a worker thread. Chunks are gathered into
batches of `BATCH_BYTES` and handed over with one vectored write while the loop already receives the next batch
(at most one batch in flight, so memory stays at about two batches whatever the size).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable

from connector.pull.atomic_file import AtomicDownload

BATCH_BYTES = 4 * 1024 * 1024


async def receive_into(
    download: AtomicDownload,
    chunks: AsyncIterable[bytes],
    *,
    progress: Callable[[int], None] | None = None,
    batch_bytes: int = BATCH_BYTES,
) -> int:
    """Append every chunk of `chunks` to `download`; returns the bytes received. Whatever ends the stream (its
    end, a broken connection, a cancellation), everything received is written before this returns or raises,
    so the download's offset is where a resumed request must start."""
    pending: list[bytes] = []
    pending_size = 0
    received = 0
    writing: asyncio.Future[None] | None = None
    try:
        async for chunk in chunks:
            pending.append(chunk)
            pending_size += len(chunk)
            received += len(chunk)
            if progress is not None:
                progress(received)
            if pending_size >= batch_bytes:
                if writing is not None:
                    # Shielded: a cancelled receiver must not abandon a write its worker thread is doing.
                    await asyncio.shield(writing)
                writing = asyncio.ensure_future(download.write_many(pending))
                pending, pending_size = [], 0
    finally:
        if writing is not None:
            await writing
        if pending:
            await download.write_many(pending)
    return received
