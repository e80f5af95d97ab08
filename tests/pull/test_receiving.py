"""The receiving hot path, with plain values: batched writes into an atomic download, vectored writes that stop
short, and the two-thread read loop of the command line."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from datetime import UTC
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.evidence.digest import Digest
from connector.keys import generate_key
from connector.pull import atomic_file
from connector.pull.atomic_file import AtomicDownload, DownloadError
from connector.pull.https_get import BlockingGet, in_thread
from connector.pull.receiving import receive_into
from connector.web.peers import WrongPeer


async def _chunks(parts: list[bytes], fail_after: int | None = None):
    for i, part in enumerate(parts):
        if fail_after is not None and i == fail_after:
            raise ConnectionResetError("the peer went away")
        await asyncio.sleep(0)
        yield part


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.binary(min_size=0, max_size=5000), max_size=30),
    st.integers(1, 20_000),
    st.one_of(st.none(), st.integers(0, 30)),
)
def test_everything_received_is_written_in_order_even_when_the_stream_breaks(
    tmp_path_factory, parts, batch, fail_after
) -> None:
    folder = tmp_path_factory.mktemp("rx")

    async def go() -> None:
        download = await AtomicDownload.begin(folder / "out.bin", "t1")
        expected = b"".join(parts if fail_after is None else parts[:fail_after])
        if fail_after is not None and fail_after < len(parts):
            with pytest.raises(ConnectionResetError):
                await receive_into(download, _chunks(parts, fail_after), batch_bytes=batch)
        else:
            assert await receive_into(download, _chunks(parts), batch_bytes=batch) == len(expected)
        assert download.offset == len(expected)
        assert download.digest().sha256 == hashlib.sha256(expected).hexdigest()
        await download.pause()
        assert (folder / "out.bin.part").read_bytes() == expected

    asyncio.run(go())


@settings(deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=300), max_size=20), st.integers(1, 97))
def test_a_vectored_write_that_stops_short_continues_where_it_stopped(parts, most) -> None:
    buffer = bytearray()

    def short_pwritev(fd: int, views: list[memoryview], offset: int) -> int:
        data = b"".join(bytes(v) for v in views)[:most]
        buffer[offset : offset + len(data)] = data
        return len(data)

    original = atomic_file.os.pwritev
    atomic_file.os.pwritev = short_pwritev  # type: ignore[assignment]
    try:
        atomic_file._write_vector(-1, parts, 0)
    finally:
        atomic_file.os.pwritev = original  # type: ignore[assignment]
    assert bytes(buffer) == b"".join(parts)


def _certificate(did: str) -> bytes:
    from datetime import datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = generate_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "server")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(did)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


SERVER_CERT = _certificate("did:web:p")


class _Wire:
    """A connection serving one canned answer in pieces of the given sizes (and breaking where told)."""

    def __init__(self, answer: bytes, pieces: list[int], break_at: int | None = None) -> None:
        self.answer, self.pieces, self.break_at = answer, pieces or [7], break_at
        self.at, self.sent, self.turn = 0, b"", 0

    def peer_certificate_der(self) -> bytes:
        return SERVER_CERT

    def send(self, data: bytes) -> None:
        self.sent += data

    def read_into(self, view: memoryview) -> int:
        if self.break_at is not None and self.at >= self.break_at:
            raise ConnectionResetError("broken")
        size = self.pieces[self.turn % len(self.pieces)]
        self.turn += 1
        piece = self.answer[self.at : self.at + min(size, len(view))]
        view[: len(piece)] = piece
        self.at += len(piece)
        return len(piece)

    def read_full(self, view: memoryview) -> int:
        filled = 0
        while filled < len(view) and (n := self.read_into(view[filled:])):
            filled += n
        return filled

    def abort(self) -> None: ...

    def close(self) -> None: ...


def _get(wire: _Wire, peer: str = "did:web:p") -> BlockingGet:
    import ssl

    return BlockingGet(
        "https://localhost:1/x?y=1",
        {"Authorization": "Bearer t"},
        ssl.create_default_context(),
        peer,
        connect=lambda *_: wire,
    )


def _chunked(body: bytes, sizes: list[int]) -> bytes:
    out, at, turn = b"", 0, 0
    while at < len(body):
        size = min(max(1, sizes[turn % len(sizes)]) if sizes else len(body), len(body) - at)
        turn += 1
        out += f"{size:x};ext=1\r\n".encode() + body[at : at + size] + b"\r\n"
        at += size
    return out + b"0\r\nX-Trailer: t\r\n\r\n"


@settings(max_examples=60, deadline=None)
@given(
    st.binary(max_size=50_000),
    st.lists(st.integers(1, 9000), min_size=1, max_size=5),
    st.lists(st.integers(1, 5000), max_size=4),
    st.booleans(),
    st.integers(16, 4096),
    st.integers(2, 5),
)
def test_a_response_is_read_whole_in_order_whatever_its_framing_and_pieces(
    body, pieces, chunks, chunked, buffer_bytes, buffers
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: x\r\n"
    answer = head + (
        b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body, chunks)
        if chunked
        else f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    )
    wire = _Wire(answer + b"junk after the body", pieces)
    get = _get(wire)
    status, headers = get.open()
    assert status == 200 and headers["content-type"] == "x"
    assert wire.sent.startswith(b"GET /x?y=1 HTTP/1.1\r\nHost: localhost:1\r\n") and b"Bearer t" in wire.sent
    got, seen = bytearray(), bytearray()
    stages = (lambda v: seen.extend(v), lambda v: got.extend(v)) if chunked else lambda v: got.extend(v)
    total = get.read_into(stages, buffer_bytes=buffer_bytes, buffers=buffers)
    assert total == len(body) and bytes(got) == body and (not chunked or bytes(seen) == body)


def test_a_broken_read_still_sinks_what_arrived_and_a_failing_sink_stops_the_reading() -> None:
    data = os.urandom(100_000)
    answer = f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data
    got = bytearray()
    get = _get(_Wire(answer, [3000], break_at=40_000))
    get.open()
    with pytest.raises(ConnectionResetError):
        get.read_into(lambda v: got.extend(v), buffer_bytes=1000)
    assert 30_000 <= len(got) < 100_000 and data.startswith(bytes(got))

    def full(view: memoryview) -> None:
        raise OSError(28, "No space left on device")

    get = _get(_Wire(answer, [3000]))
    get.open()
    with pytest.raises(OSError, match="No space"):
        get.read_into(full, buffer_bytes=1000)
    short = _get(_Wire(answer[:5000], [3000]))
    short.open()
    with pytest.raises(ConnectionError):
        short.read_into(lambda v: None, buffer_bytes=1000)


def test_a_server_that_is_not_the_peer_is_refused_before_the_request() -> None:
    wire = _Wire(b"HTTP/1.1 200 OK\r\n\r\n", [10])
    with pytest.raises(WrongPeer):
        _get(wire, peer="did:web:someone-else").open()
    assert wire.sent == b""


@pytest.mark.parametrize("answer", [b"SSH-2.0-x\r\n\r\n", b"HTTP/1.1 20", b"HTTP/1.1 200 OK\r\n" + b"a" * 70_000])
def test_what_is_not_http_is_a_broken_connection(answer) -> None:
    with pytest.raises(ConnectionError):
        _get(_Wire(answer, [999])).open()


async def test_write_many_and_write_blocking_hash_what_they_write(tmp_path: Path) -> None:
    download = await AtomicDownload.begin(tmp_path / "f", "t")
    await download.write_many([b"ab", bytearray(b"cd"), memoryview(b"ef")])
    download.write_blocking(memoryview(b"gh"))
    assert download.offset == 8 and download.digest().sha256 == hashlib.sha256(b"abcdefgh").hexdigest()
    await download.pause()
    assert (tmp_path / "f.part").read_bytes() == b"abcdefgh"


async def test_direct_writes_carry_aligned_chunks_and_anything_else_goes_through_the_page_cache(tmp_path) -> None:
    import mmap

    download = await AtomicDownload.begin(tmp_path / "d", "t")
    download.use_direct_io()  # where the file system refuses O_DIRECT, every write is a normal one
    aligned = mmap.mmap(-1, 3 * 4096)
    aligned.write(os.urandom(3 * 4096))
    odd = os.urandom(5000)
    expected = bytes(aligned) + odd + bytes(aligned[:4096])
    download.write_blocking(memoryview(aligned))  # direct
    download.write_blocking(odd)  # unaligned length: the page cache
    download.write_blocking(memoryview(aligned)[:4096])  # unaligned offset now: the page cache
    assert download.offset == len(expected)
    assert download.digest().sha256 == hashlib.sha256(expected).hexdigest()
    await download.pause()
    assert (tmp_path / "d.part").read_bytes() == expected
    resumed = await AtomicDownload.begin(tmp_path / "d", "t")
    assert resumed.offset == len(expected) and resumed.digest().sha256 == hashlib.sha256(expected).hexdigest()
    await resumed.discard()


async def test_hashing_and_writing_as_two_stages_leave_the_download_consistent(tmp_path) -> None:
    download = await AtomicDownload.begin(tmp_path / "s", "t", expected_size=12)
    write_stage, hash_stage = download.pipeline_stages()
    for piece in (b"hello ", b"world!"):
        write_stage(memoryview(piece))
        hash_stage(memoryview(piece))
    assert download.offset == 12 and download.digest().sha256 == hashlib.sha256(b"hello world!").hexdigest()
    with pytest.raises(atomic_file.DownloadError):
        write_stage(memoryview(b"x"))  # more than announced
    await download.pause()
    assert (tmp_path / "s.part").read_bytes() == b"hello world!"


def _answer(body: bytes) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def _fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fetch")]


def test_a_long_body_flows_through_no_more_buffers_than_allowed() -> None:
    body = os.urandom(40_000)
    get = _get(_Wire(_answer(body), [700]))
    get.open()
    got, held = bytearray(), [set(), set()]

    def first(view: memoryview) -> None:
        held[0].add(id(view.obj))

    def second(view: memoryview) -> None:
        held[1].add(id(view.obj))
        got.extend(view)

    assert get.read_into((first, second), buffer_bytes=1000, buffers=3) == len(body)
    assert bytes(got) == body
    assert 1 <= len(held[0]) <= 3 and held[1] <= held[0]  # forty buffers' worth, never more than three buffers
    assert _fetch_threads() == []


async def test_a_failed_write_leaves_the_digest_covering_exactly_the_bytes_written(tmp_path, monkeypatch) -> None:
    body = os.urandom(10_000)
    download = await AtomicDownload.begin(tmp_path / "w", "t")
    first, second = download.pipeline_stages()
    writes, failed = [0], threading.Event()
    real_write_all = atomic_file._write_all

    def fourth_write_fails(fd: int, data: object, offset: int = 0) -> None:
        writes[0] += 1
        if writes[0] == 4:
            failed.set()
            raise OSError(28, "No space left on device")
        real_write_all(fd, data, offset)

    def late_second(view: memoryview) -> None:
        failed.wait(10)  # the later stage lags behind the failure: it must still finish what it was handed
        second(view)

    monkeypatch.setattr(atomic_file, "_write_all", fourth_write_fails)
    get = _get(_Wire(_answer(body), [1000]))
    get.open()
    with pytest.raises(DownloadError, match="no space left on the device that holds 'w.part'"):
        get.read_into((first, late_second), buffer_bytes=1000, buffers=4)
    assert _fetch_threads() == []
    assert download.offset == 3000
    assert download.digest() == Digest(hashlib.sha256(body[:3000]).hexdigest(), 3000)
    await download.pause()
    assert (tmp_path / "w.part").read_bytes() == body[:3000]


class _StallingWire(_Wire):
    """Serves `stall_at` bytes, then blocks like a silent peer until aborted."""

    def __init__(self, answer: bytes, stall_at: int) -> None:
        super().__init__(answer, [500])
        self.stall_at, self.stalled, self.aborted = stall_at, threading.Event(), threading.Event()

    def read_into(self, view: memoryview) -> int:
        if self.at >= self.stall_at:
            self.stalled.set()
            self.aborted.wait(30)
            raise ConnectionResetError("aborted")
        return super().read_into(view[: self.stall_at - self.at])

    def abort(self) -> None:
        self.aborted.set()


async def test_a_cancelled_pull_ends_every_thread_and_the_part_resumes_consistently(tmp_path) -> None:
    body = os.urandom(20_000)
    answer = _answer(body)
    head = len(answer) - len(body)
    fds_before = set(os.listdir("/proc/self/fd"))
    download = await AtomicDownload.begin(tmp_path / "c", "t")
    wire = _StallingWire(answer, head + 5_000)
    get = _get(wire)
    get.open()
    task = asyncio.ensure_future(
        in_thread(get.read_into, download.pipeline_stages(), None, 1000, 3, on_cancel=get.abort)
    )
    await asyncio.to_thread(wire.stalled.wait, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert wire.aborted.is_set() and _fetch_threads() == []
    assert download.offset == 5_000 and download.digest().sha256 == hashlib.sha256(body[:5_000]).hexdigest()
    await download.pause()
    assert set(os.listdir("/proc/self/fd")) == fds_before  # the part's descriptors are closed
    resumed = await AtomicDownload.begin(tmp_path / "c", "t")
    assert resumed.offset == 5_000 and resumed.digest() == download.digest()
    await resumed.discard()
