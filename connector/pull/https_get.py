"""One HTTPS GET whose body is read by threads of their own, straight into reusable buffers.

The receiving side is where Python spends the most per byte. A puller that only receives (the command line)
therefore reads each stream outside the event loop: one thread decrypts (`TlsStream`) into a few rotating
page-aligned 4 MiB buffers, and further threads take each filled buffer in turn (write it, then hash it), so that
decrypting, hashing and writing overlap with no hand-over per network chunk. The HTTP/1.1 it needs is small: one
request, a response head, and a body framed by Content-Length or chunked encoding. The server's certificate must
name the expected participant before the request (and its bearer token) is sent (or, where web certificates are
accepted, name no participant at all; see `connector.web.peers`).
"""

from __future__ import annotations

import asyncio
import mmap
import queue
import ssl
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from cryptography import x509

from connector.pull.tls_socket import TlsStream
from connector.web.peers import WrongPeer, wrong_peer

T = TypeVar("T")
BUFFER_BYTES = 4 * 1024 * 1024
BUFFERS = 4
ERROR_BODY_LIMIT = 64 * 1024
HEAD_LIMIT = 64 * 1024
CANCEL_JOIN = 10.0


class ProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.1 as expected (a broken connection, as far as the puller cares)."""


class Stream(Protocol):
    """What the GET needs of a connection (`TlsStream`)."""

    def peer_certificate_der(self) -> bytes | None: ...

    def send(self, data: bytes) -> None: ...

    def read_into(self, view: memoryview) -> int: ...

    def read_full(self, view: memoryview) -> int: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


async def in_thread(fn: Callable[..., T], *args: Any, on_cancel: Callable[[], None] | None = None) -> T:
    """Run a blocking call in a daemon thread of its own (it may block on the network for long; a daemon does
    not hold the process at exit, unlike the loop's executor threads). When the awaiting task is cancelled,
    `on_cancel` is called (to make the call fail fast) and the thread is waited for, so that whatever it was
    writing is finished before the caller cleans up."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def target() -> None:
        try:
            value = fn(*args)
        except BaseException as exc:  # handed to the awaiting coroutine whatever it is
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, value, None)

    thread = threading.Thread(target=target, name="fetch", daemon=True)
    thread.start()
    try:
        return await future
    except asyncio.CancelledError:
        if on_cancel is not None:
            on_cancel()
        thread.join(CANCEL_JOIN)
        raise


class BlockingGet:
    """A GET on a connection to one participant. Call `open`, `read_small` and `read_into` from a worker thread;
    `abort` from anywhere to make them fail at once."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        ssl_context: ssl.SSLContext,
        expected_peer: str,
        timeout: float = 120.0,
        connect: Callable[[str, int, ssl.SSLContext, float], Stream] = TlsStream,
        accept_unnamed: bool = False,
        revoked: Callable[[x509.Certificate], bool] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("only https URLs are fetched")
        self.url = url
        self._host = parts.hostname
        self._port = parts.port or 443
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = headers
        self._context = ssl_context
        self._expected = expected_peer
        self._timeout = timeout
        self._connect = connect
        self._accept_unnamed = accept_unnamed
        self._revoked = revoked  # when the context leaves CRLs to us (web certificates accepted)
        self._tls: Stream | None = None
        self._aborted = False
        self._pending = bytearray()  # decrypted bytes read past what was consumed (head, chunk framing)
        self._left: int | None = None  # body bytes still to come (Content-Length), or of the current chunk
        self._chunked = False
        self._done = False

    # --- the request ----------------------------------------------------------------------------------------------

    def open(self) -> tuple[int, dict[str, str]]:
        """Connect, check who answers, send the request; returns the status and headers (names lowercased)."""
        self._tls = self._connect(self._host, self._port, self._context, self._timeout)
        if self._aborted:
            self._tls.abort()
        der = self._tls.peer_certificate_der()
        cert = x509.load_der_x509_certificate(der) if der else None
        origin = f"https://{self._host}:{self._port}"
        wrong = wrong_peer(cert, self._expected, origin, self._accept_unnamed)
        if wrong is None and cert is not None and self._revoked is not None and self._revoked(cert):
            wrong = WrongPeer("dataplane.wrong_peer", f"the certificate of {origin} has been revoked")
        if wrong is not None:
            self.close()
            raise wrong
        host = f"[{self._host}]" if ":" in self._host else self._host
        lines = [
            f"GET {self._path} HTTP/1.1",
            f"Host: {host}:{self._port}",
            "Accept-Encoding: identity",
            "Connection: close",
        ]
        lines += [f"{name}: {value}" for name, value in self._headers.items()]
        self._tls.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status, headers = self._read_head()
        self._frame(status, headers)
        return status, headers

    def _more(self) -> bool:
        """Decrypt some more into `_pending`; False at the end of the stream."""
        assert self._tls is not None
        chunk = memoryview(bytearray(64 * 1024))
        n = self._tls.read_into(chunk)
        if n:
            self._pending += chunk[:n]
        return n > 0

    def _line(self) -> bytes:
        while True:
            end = self._pending.find(b"\r\n")
            if end >= 0:
                line = bytes(self._pending[:end])
                del self._pending[: end + 2]
                return line
            if len(self._pending) > HEAD_LIMIT or not self._more():
                raise ProtocolError("the server's answer broke off or has an overlong line")

    def _read_head(self) -> tuple[int, dict[str, str]]:
        status_line = self._line().decode("latin-1")
        version, _, rest = status_line.partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ProtocolError(f"not an HTTP/1.1 answer: {status_line[:40]!r}")
        headers: dict[str, str] = {}
        size = 0
        while line := self._line():
            size += len(line)
            if size > HEAD_LIMIT:
                raise ProtocolError("the server's answer has overlong headers")
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(code), headers

    def _frame(self, status: int, headers: dict[str, str]) -> None:
        if status in (204, 304) or 100 <= status < 200:
            self._done = True
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked, self._left = True, 0
        elif headers.get("content-length", "").isdigit():
            self._left = int(headers["content-length"])
            self._done = self._left == 0

    # --- the body -------------------------------------------------------------------------------------------------

    def _next_chunk(self) -> None:
        """Chunked encoding: move past the end of the current chunk to the next one (or the end)."""
        size_line = self._line()
        if not size_line:  # the CRLF that closes the previous chunk
            size_line = self._line()
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError("a malformed chunk size") from None
        if size == 0:
            while self._line():  # trailers, up to the empty line
                pass
            self._done = True
        self._left = size

    def _read_some(self, view: memoryview) -> int:
        """Body bytes into `view` (at most its length); 0 at the end of the body."""
        if self._done:
            return 0
        if self._chunked and self._left == 0:
            self._next_chunk()
            if self._done:
                return 0
        want = len(view) if self._left is None else min(len(view), self._left)
        if self._pending:
            n = min(want, len(self._pending))
            view[:n] = self._pending[:n]
            del self._pending[:n]
        else:
            assert self._tls is not None
            n = self._tls.read_full(view[:want]) if self._left is not None else self._tls.read_into(view[:want])
            if n == 0:
                if self._left is not None:
                    raise ProtocolError("the connection closed before the end of the body")
                self._done = True
                return 0
        if self._left is not None:
            self._left -= n
            if self._left == 0 and not self._chunked:
                self._done = True
        return n

    def _fill(self, view: memoryview) -> int:
        """Fill `view` as far as the body goes (whole buffers keep direct writes aligned)."""
        filled = 0
        while filled < len(view):
            n = self._read_some(view[filled:])
            if n == 0:
                break
            filled += n
        return filled

    def read_small(self) -> bytes:
        """A short body (an error's or a seal's), at most ERROR_BODY_LIMIT bytes."""
        view = memoryview(bytearray(ERROR_BODY_LIMIT))
        return bytes(view[: self._fill(view)])

    def read_into(
        self,
        sink: Callable[[memoryview], None] | Sequence[Callable[[memoryview], None]],
        progress: Callable[[int], None] | None = None,
        buffer_bytes: int = BUFFER_BYTES,
        buffers: int = BUFFERS,
    ) -> int:
        """Read the body to its end and pass it, one filled buffer at a time and in order, to `sink`, or through
        each of several sinks in turn (say writing, then hashing). Reading and every sink run in threads of their
        own over `buffers` rotating buffers, so they all overlap while memory stays bounded (a slow sink holds
        the reading back); a sink must be done with a buffer when it returns.

        Each sink sees exactly the buffers every sink before it finished, in order. When a sink fails, nothing
        more is read and it passes nothing more on, but the sinks after it still finish what it had passed:
        with (write, hash) the digest covers exactly the bytes written, whatever fails. Every thread has ended
        when this returns or raises (a broken connection raises OSError; a failing sink, its own error)."""
        stages = [sink] if callable(sink) else list(sink)
        free: queue.Queue[memoryview] = queue.Queue()
        for _ in range(max(len(stages) + 1, buffers)):
            # Page-aligned memory (mmap), so that a sink may write it around the page cache (O_DIRECT).
            free.put(memoryview(mmap.mmap(-1, buffer_bytes)))
        queues: list[queue.Queue[tuple[memoryview, int] | None]] = [queue.Queue() for _ in stages]
        failures: list[BaseException] = []

        def run(stage: Callable[[memoryview], None], inbox: queue.Queue[Any], outbox: queue.Queue[Any] | None) -> None:
            failed = False
            while (item := inbox.get()) is not None:
                view, n = item  # n == 0: a buffer an earlier sink did not finish, to be passed on untouched
                if n and not failed:
                    try:
                        stage(view[:n])
                    except BaseException as exc:  # reported to the reading thread, which raises it
                        failures.append(exc)
                        failed = True
                        self.abort()
                if outbox is None:
                    free.put(view)
                else:
                    outbox.put((view, 0) if failed else item)
            if outbox is not None:
                outbox.put(None)

        workers = [
            threading.Thread(
                target=run,
                args=(stage, queues[i], queues[i + 1] if i + 1 < len(stages) else None),
                name=f"fetch-sink-{i}",
                daemon=True,
            )
            for i, stage in enumerate(stages)
        ]
        for worker in workers:
            worker.start()
        total = 0
        try:
            while not failures:
                view = free.get()
                n = self._fill(view)
                if n:
                    queues[0].put((view, n))
                    total += n
                    if progress is not None:
                        progress(total)
                if n < len(view):
                    break
        except BaseException:
            if failures:
                raise failures[0] from None
            raise
        finally:
            queues[0].put(None)
            for worker in workers:
                worker.join()
        if failures:
            raise failures[0]
        return total

    def abort(self) -> None:
        self._aborted = True
        if self._tls is not None:
            self._tls.abort()

    def close(self) -> None:
        if self._tls is not None:
            self._tls.close()
