"""What every source gives the data plane: an open stream of byte chunks and what is known about it.

A `Source` is built once from an asset's data address; `open()` does everything that can fail before the first
byte (resolving paths, contacting the back end, preparing the query) so the caller can still answer with an error
status, then hands back a `DataStream`: an async iterator of `bytes` chunks of at most `CHUNK_SIZE`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from connector.errors import ConnectorError, Problem
from connector.web.ranges import ByteRange

if TYPE_CHECKING:
    import aiohttp

CHUNK_SIZE = 256 * 1024


class SourceError(ConnectorError):
    """A source could not deliver; `code` starts with ``source.``."""


@dataclass(frozen=True)
class StreamInfo:
    """What the receiver is told about a stream before its first byte."""

    media_type: str
    size: int | None = None  # bytes this stream yields, when known
    total_size: int | None = None  # bytes of the whole representation, when known
    range: ByteRange | None = None  # the absolute range served; None when the whole representation is
    name: str | None = None  # a file name to suggest to the receiver
    etag: str | None = None  # changes whenever the bytes may have changed (for If-Range on resume)


class DataStream:
    """An open stream. Iterate it for chunks; always close it (``async with`` or `aclose`), even when it is
    abandoned half way, so that files, threads, connections and upstream responses are released at once."""

    def __init__(
        self,
        info: StreamInfo,
        chunks: AsyncIterator[bytes],
        release: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.info = info
        self._chunks = chunks
        self._release = release
        self._closed = False

    def __aiter__(self) -> DataStream:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        return await self._chunks.__anext__()

    @property
    def closed(self) -> bool:
        return self._closed

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._chunks, "aclose", None)
            if close is not None:
                await close()
        finally:
            # Separate from the generator: a generator never started does not run its own cleanup.
            if self._release is not None:
                await self._release()

    async def __aenter__(self) -> DataStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def read_all(self) -> bytes:
        """Everything, joined (for tests and small payloads; defeats streaming)."""
        try:
            return b"".join([chunk async for chunk in self])
        finally:
            await self.aclose()


@runtime_checkable
class Source(Protocol):
    """A configured place data comes from."""

    @property
    def kind(self) -> str: ...

    @property
    def seekable(self) -> bool:
        """Whether `open` honours a byte range (otherwise the caller must serve the whole)."""
        ...

    async def open(self, byte_range: ByteRange | None = None) -> DataStream: ...


def _environment() -> Mapping[str, str]:
    return os.environ


@dataclass(frozen=True)
class SourceContext:
    """What the node lends its sources: nothing here comes from an asset or a peer."""

    # Named folders file sources may read below; an asset names one (default "default").
    file_roots: Mapping[str, Path] = field(default_factory=dict)
    # The node's shared client session for HTTP back ends.
    http_session: aiohttp.ClientSession | None = None
    # Where secret values named as {"env": NAME} are looked up (read at open, so rotation takes effect).
    environ: Mapping[str, str] = field(default_factory=_environment)
    # Files no source may serve, whatever root they lie below (the node's own store).
    protected_files: tuple[Path, ...] = ()
    # Worker threads for blocking file reads; None uses the loop's default executor.
    executor: Executor | None = None


def unsupported_range(what: str) -> SourceError:
    """Raised by `open` when a range cannot be served; the caller then opens without one and answers 200."""
    return SourceError(
        "source.range.unsupported", f"a byte range cannot be served from this {what}; send the whole", "range"
    )


# The HTTP status a pull endpoint should answer for a source's problem: the consumer asked for nothing wrong
# unless the range is at fault, so most failures are the provider's (5xx), and the back end's are 502/504.
_STATUS_BY_CODE: dict[str, int] = {
    "source.range.unsatisfiable": 416,
    "source.file.not_found": 404,
    "source.http.not_found": 404,
    "source.http.status": 502,
    "source.http.redirect": 502,
    "source.http.bad_response": 502,
    "source.http.unreachable": 502,
    "source.http.truncated": 502,
    "source.http.timeout": 504,
    "source.sql.timeout": 504,
}


def http_status_for(problem: Problem) -> int:
    """The response status that fits a source problem (500 for anything not listed)."""
    return _STATUS_BY_CODE.get(problem.code, 500)


def describe(value: Any) -> str:
    """A short, safe rendering of a configuration value for a reason sentence."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
