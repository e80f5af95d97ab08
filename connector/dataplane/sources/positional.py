"""Streaming from anything that can be read at an offset, with the blocking reads in worker threads.

One read is kept in flight ahead of the consumer: while the receiver sends chunk i, chunk i+1 is being read,
so disk and network overlap, and no more than two chunks are ever held.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import AsyncIterator, Callable

from connector.dataplane.sources.base import CHUNK_SIZE, SourceError


async def positional_chunks(
    read_at: Callable[[int, int], bytes],
    start: int,
    stop: int,
    executor: Executor | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> AsyncIterator[bytes]:
    """Bytes [start, stop) in chunks of `chunk_size`; `read_at(offset, n)` must return exactly n bytes or raise."""
    loop = asyncio.get_running_loop()

    def submit(pos: int) -> asyncio.Future[bytes]:
        return loop.run_in_executor(executor, read_at, pos, min(chunk_size, stop - pos))

    pos = start
    pending = submit(pos) if pos < stop else None
    try:
        while pending is not None:
            chunk = await pending
            if not chunk:
                raise SourceError("source.read.short", "the data ended before its announced size", None)
            pos += len(chunk)
            pending = submit(pos) if pos < stop else None
            yield chunk
    finally:
        # A read already running in a thread cannot be stopped; whoever closes the underlying descriptor
        # must wait for it (the readers serialise read and close on a lock).
        if pending is not None:
            pending.cancel()
