"""Streaming from anything that can be read at an offset, with the blocking reads in worker threads.

One read is kept in flight ahead of the consumer: while the receiver sends chunk i, chunk i+1 is being read,
so disk and network overlap, and no more than two chunks are ever held. Data already in the page cache can be
read on the event loop instead (see `try_read_at`), which is cheaper than the thread hand-over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor

from connector.sources.base import CHUNK_SIZE, SourceError


async def positional_chunks(
    read_at: Callable[[int, int], bytes],
    start: int,
    stop: int,
    executor: Executor | None = None,
    chunk_size: int = CHUNK_SIZE,
    try_read_at: Callable[[int, int], bytes | bytearray | None] | None = None,
) -> AsyncIterator[bytes]:
    """Bytes [start, stop) in chunks of `chunk_size`; `read_at(offset, n)` must return exactly n bytes or raise.

    `try_read_at(offset, n)`, when given, reads without ever blocking (the page cache) and returns None when it
    would have to wait for the disk: a hit costs a memory copy on the event loop instead of a hand-over to a
    worker thread and back. After the first miss the stream stays with worker threads, reading ahead."""
    loop = asyncio.get_running_loop()

    def submit(pos: int) -> asyncio.Future[bytes]:
        return loop.run_in_executor(executor, read_at, pos, min(chunk_size, stop - pos))

    pos = start
    pending: asyncio.Future[bytes] | None = None
    inline = try_read_at is not None
    try:
        while pos < stop:
            chunk: bytes | bytearray | None = None
            if inline and pending is None:
                chunk = try_read_at(pos, min(chunk_size, stop - pos))  # type: ignore[misc]
                inline = chunk is not None
            if chunk is None:
                if pending is None:
                    pending = submit(pos)
                chunk = await pending
                pending = None
            if not chunk:
                raise SourceError("source.read.short", "the data ended before its announced size", None)
            pos += len(chunk)
            if not inline and pos < stop:
                pending = submit(pos)
            yield chunk  # type: ignore[misc]
    finally:
        # A read already running in a thread cannot be stopped; whoever closes the underlying descriptor
        # must wait for it (the readers serialise read and close on a lock).
        if pending is not None:
            pending.cancel()
