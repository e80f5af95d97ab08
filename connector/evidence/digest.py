"""SHA-256 over data in motion: hash chunks as they pass, so a seal costs no second read and no copy."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Digest:
    """What a seal commits to about the bytes: their SHA-256 (lowercase hex) and their count."""

    sha256: str
    size: int


class RunningDigest:
    """An incremental SHA-256 that also counts bytes."""

    __slots__ = ("_hash", "_size")

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._size = 0

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        # hashlib reads the buffer in place; nothing is copied.
        self._hash.update(chunk)
        self._size += len(chunk) if not isinstance(chunk, memoryview) else chunk.nbytes

    @property
    def size(self) -> int:
        return self._size

    def digest(self) -> Digest:
        """The digest of everything so far (the running state is kept, so more may follow)."""
        return Digest(self._hash.hexdigest(), self._size)


class HashingStream:
    """Passes the chunks of `chunks` through unchanged (the very same objects) while hashing them.

    `digest()` is available once the wrapped stream is exhausted; asking earlier is a programming error,
    because a seal over a prefix would silently prove the wrong thing.
    """

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._running = RunningDigest()
        self._done = False

    def __aiter__(self) -> HashingStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            self._done = True
            raise
        self._running.update(chunk)
        return chunk

    @property
    def complete(self) -> bool:
        return self._done

    @property
    def size(self) -> int:
        """Bytes passed so far."""
        return self._running.size

    def digest(self) -> Digest:
        if not self._done:
            raise RuntimeError("the stream has not been read to its end; its digest would cover a prefix only")
        return self._running.digest()


async def digest_chunks(chunks: AsyncIterator[bytes]) -> Digest:
    """Read `chunks` to the end and return their digest."""
    running = RunningDigest()
    async for chunk in chunks:
        running.update(chunk)
    return running.digest()
