"""Writing a download so that the final name only ever holds complete, verified data, and a break can resume.

Bytes go to ``<final>.part``; beside it ``<final>.part.json`` records which transfer they belong to, the size
expected and how many bytes are durably written. Only `commit`, which requires the verified seal of exactly these
bytes, renames the part to the final name (after fsync, and the folder is synced after the rename). A download
that stops keeps its part; beginning again for the same transfer re-hashes the part and continues from its size,
for which the caller asks the provider with ``Range: bytes=<offset>-``.

One writer per download; calls must not overlap (each awaits its blocking work in a worker thread).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from connector.atomic_write import write_atomically
from connector.canonical import canonical_bytes
from connector.errors import NO_SPACE, ConnectorError
from connector.evidence.digest import Digest, RunningDigest
from connector.evidence.seal import SealFacts

PART_SUFFIX = ".part"
RECORD_SUFFIX = ".part.json"
CHECKPOINT_BYTES = 64 * 1024 * 1024  # fsync and record progress this often
_READ_BACK = 1024 * 1024
DIRECT_BLOCK = 4096  # alignment of direct writes (offsets, lengths and memory)
_IOV_MAX = min(1024, os.sysconf("SC_IOV_MAX")) if hasattr(os, "sysconf") else 1024
_T = TypeVar("_T")


class DownloadError(ConnectorError):
    """A download that cannot begin, continue or be committed; `code` starts with ``download.``."""


@dataclass(frozen=True)
class PartRecord:
    """The sidecar of a part file."""

    transfer_id: str
    expected_size: int | None
    received: int  # bytes known to be durably in the part (fsynced)

    def to_bytes(self) -> bytes:
        return canonical_bytes(
            {
                "version": 1,
                "transferId": self.transfer_id,
                "expectedSize": self.expected_size,
                "received": self.received,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PartRecord:
        try:
            value = json.loads(data)
        except ValueError:
            raise DownloadError("download.record", "the part's record is not JSON") from None
        if not isinstance(value, dict) or value.get("version") != 1:
            raise DownloadError("download.record", "the part's record is not a version 1 record")
        transfer_id, expected, received = value.get("transferId"), value.get("expectedSize"), value.get("received")
        if not isinstance(transfer_id, str) or not transfer_id:
            raise DownloadError("download.record", "the part's record has no transfer id")
        if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int) or expected < 0):
            raise DownloadError("download.record", "the part's record has an invalid expected size")
        if isinstance(received, bool) or not isinstance(received, int) or received < 0:
            raise DownloadError("download.record", "the part's record has an invalid byte count")
        return cls(transfer_id, expected, received)


def part_path(final: Path) -> Path:
    return final.with_name(final.name + PART_SUFFIX)


def record_path(final: Path) -> Path:
    return final.with_name(final.name + RECORD_SUFFIX)


def _write_all(fd: int, data: bytes | bytearray | memoryview, offset: int = 0) -> None:
    # Positional writes: where the bytes land never depends on a file offset left behind by someone else.
    view = memoryview(data).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _write_vector(fd: int, chunks: Sequence[bytes | bytearray | memoryview], offset: int) -> None:
    # One system call for many chunks; pwritev may stop short, so continue from where it stopped.
    views = [v for v in (memoryview(c).cast("B") for c in chunks) if v.nbytes]
    while views:
        written = os.pwritev(fd, views[:_IOV_MAX], offset)
        offset += written
        done = 0
        while done < len(views) and written >= views[done].nbytes:
            written -= views[done].nbytes
            done += 1
        views = views[done:]
        if written and views:
            views[0] = views[0][written:]


def _unwritable(exc: OSError, part: Path) -> DownloadError:
    """The file system's refusal to write or sync the part (a full disk, a quota, a failing device), as the
    download's own error. Whatever the part holds stays with its record, so a later attempt continues from there
    once the cause is gone (beginning again re-hashes the part as it is, a write cut short included)."""
    kept = "what it holds is kept, and the download continues from there"
    if exc.errno in NO_SPACE:
        reason = f"no space left on the device that holds '{part.name}': {kept} once there is room"
        return DownloadError("download.no_space", reason, str(part))
    return DownloadError("download.io", f"'{part.name}' cannot be written ({exc.strerror or exc}): {kept}", str(part))


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def recorded_size(final: Path, transfer_id: str) -> int | None:
    """The size of the data that the record of the part beside `final` states, if it is a part of `transfer_id`
    (read it before `begin`, which records the size it is given)."""
    record = _read_record(record_path(final))
    return record.expected_size if record is not None and record.transfer_id == transfer_id else None


def _read_record(path: Path) -> PartRecord | None:
    try:
        return PartRecord.from_bytes(path.read_bytes())
    except FileNotFoundError:
        return None
    except DownloadError:
        return None


class AtomicDownload:
    """A download in progress; create it with `begin`."""

    def __init__(
        self,
        final: Path,
        transfer_id: str,
        expected_size: int | None,
        fd: int,
        offset: int,
        running: RunningDigest,
        *,
        resumed: bool,
        overwrite: bool,
        executor: Executor | None,
    ) -> None:
        self.final_path = final
        self.part_path = part_path(final)
        self.record_path = record_path(final)
        self.transfer_id = transfer_id
        self.expected_size = expected_size
        self.resumed = resumed
        self._fd: int | None = fd
        self._size = offset
        self._durable = offset
        self._running = running
        self._overwrite = overwrite
        self._executor = executor
        self._committed = False
        # How often writes are made durable and recorded; a fast receiver may choose a longer interval.
        self.checkpoint_bytes = CHECKPOINT_BYTES
        self._direct: int | None = None  # a second descriptor with O_DIRECT, see use_direct_io

    # --- beginning ---------------------------------------------------------------------------------------------

    @classmethod
    async def begin(
        cls,
        final_path: os.PathLike[str] | str,
        transfer_id: str,
        expected_size: int | None = None,
        *,
        replace_foreign: bool = False,
        overwrite: bool = False,
        mode: int = 0o600,
        executor: Executor | None = None,
    ) -> AtomicDownload:
        """Start, or resume when a part of the same transfer is there (its bytes are re-hashed first).

        A part belonging to another transfer, or of unknown origin, is refused unless `replace_foreign`.
        An existing final file is refused unless `overwrite`."""
        final = Path(final_path)
        loop = asyncio.get_running_loop()
        fd, offset, running, resumed = await loop.run_in_executor(
            executor, cls._begin_blocking, final, transfer_id, expected_size, replace_foreign, overwrite, mode
        )
        return cls(
            final,
            transfer_id,
            expected_size,
            fd,
            offset,
            running,
            resumed=resumed,
            overwrite=overwrite,
            executor=executor,
        )

    @staticmethod
    def _begin_blocking(
        final: Path, transfer_id: str, expected_size: int | None, replace_foreign: bool, overwrite: bool, mode: int
    ) -> tuple[int, int, RunningDigest, bool]:
        if not overwrite and os.path.lexists(final):
            raise DownloadError("download.exists", f"'{final.name}' already exists", str(final))
        part, rec_path = part_path(final), record_path(final)
        record = _read_record(rec_path)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(part, flags, mode)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise DownloadError("download.symlink", f"'{part.name}' is a symbolic link", str(part)) from None
            reason = f"'{part.name}' cannot be opened ({exc.strerror})"
            raise DownloadError("download.io", reason, str(part)) from None
        try:
            size = os.fstat(fd).st_size
            ours = record is not None and record.transfer_id == transfer_id
            if size > 0 and not ours and not replace_foreign:
                raise DownloadError(
                    "download.foreign",
                    f"'{part.name}' holds a partial download of another transfer",
                    str(part),
                )
            # A part of another size announcement, or longer than announced, cannot be continued.
            other_size = record is not None and record.expected_size not in (None, expected_size)
            too_long = expected_size is not None and size > expected_size
            stale = not ours or (expected_size is not None and other_size) or too_long
            if stale and size > 0:
                os.ftruncate(fd, 0)
                size = 0
            running = RunningDigest()
            position = 0
            while position < size:
                block = os.pread(fd, min(_READ_BACK, size - position), position)
                if not block:
                    break
                running.update(block)
                position += len(block)
            try:
                os.fsync(fd)
                write_atomically(rec_path, PartRecord(transfer_id, expected_size, position).to_bytes())
            except OSError as exc:
                raise _unwritable(exc, part) from exc
        except BaseException:
            os.close(fd)
            raise
        return fd, position, running, position > 0

    # --- progress ----------------------------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """Bytes held so far: where the next byte goes, and where a resumed request must start."""
        return self._size

    def digest(self) -> Digest:
        """The digest of everything written so far (the complete download once the stream ended)."""
        return self._running.digest()

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _require_open(self) -> int:
        if self._fd is None:
            raise DownloadError("download.closed", "the download is no longer open")
        return self._fd

    def _check_room(self, n: int) -> None:
        if self.expected_size is not None and self._size + n > self.expected_size:
            raise DownloadError(
                "download.too_large",
                f"the provider sent more than the announced {self.expected_size} bytes",
                str(self.part_path),
            )

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        fd = self._require_open()
        self._check_room(memoryview(chunk).nbytes)
        await self._run(self._write_blocking, fd, chunk)

    async def write_many(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        """Write several chunks with one hand-over to the worker thread and one vectored write, so that a
        receiver can batch the network's chunks instead of paying a thread hop for each."""
        fd = self._require_open()
        n = sum(memoryview(c).nbytes for c in chunks)
        self._check_room(n)
        await self._run(self._write_many_blocking, fd, list(chunks), n)

    def _write_many_blocking(self, fd: int, chunks: list[bytes | bytearray | memoryview], n: int) -> None:
        try:
            _write_vector(fd, chunks, self._size)
        except OSError as exc:
            raise _unwritable(exc, self.part_path) from exc
        for chunk in chunks:
            self._running.update(chunk)
        self._advance(fd, n)

    def write_blocking(self, chunk: bytes | bytearray | memoryview) -> None:
        """Append `chunk` from a thread of the caller's own (a receiver running a blocking read loop); the
        same rule holds: no call may overlap another. `chunk` may be reused once this returns."""
        fd = self._require_open()
        self._check_room(memoryview(chunk).nbytes)
        self._write_blocking(fd, chunk)

    def use_direct_io(self) -> bool:
        """Write block-aligned chunks around the page cache (O_DIRECT), when the file system allows it.

        Filling the page cache with a large download costs more CPU than anything else on the receiving side
        and evicts what the machine had cached; direct writes cost almost none. Only a chunk whose offset and
        length are multiples of DIRECT_BLOCK, in memory aligned likewise (an mmap buffer), goes direct; any other
        is written normally, and a refusal by the file system turns direct writes off for good."""
        if self._direct is not None:
            return True
        flag = getattr(os, "O_DIRECT", 0)
        if not flag or self._fd is None:
            return False
        try:
            self._direct = os.open(self.part_path, os.O_WRONLY | flag | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False
        return True

    def _close_direct(self) -> None:
        direct, self._direct = self._direct, None
        if direct is not None:
            os.close(direct)

    def _write_at(self, fd: int, chunk: bytes | bytearray | memoryview) -> None:
        try:
            self._write_at_unchecked(fd, chunk)
        except OSError as exc:
            raise _unwritable(exc, self.part_path) from exc

    def _write_at_unchecked(self, fd: int, chunk: bytes | bytearray | memoryview) -> None:
        view = memoryview(chunk).cast("B")
        if self._direct is not None and self._size % DIRECT_BLOCK == 0 and view.nbytes >= DIRECT_BLOCK:
            aligned = view.nbytes - view.nbytes % DIRECT_BLOCK
            try:
                _write_all(self._direct, view[:aligned], self._size)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._close_direct()  # misaligned memory, or no support after all: normal writes from now
            else:
                if aligned < view.nbytes:
                    _write_all(fd, view[aligned:], self._size + aligned)
                return
        _write_all(fd, view, self._size)

    def pipeline_stages(self) -> tuple[Callable[[memoryview], None], Callable[[memoryview], None]]:
        """(write, hash): `write_blocking` split in two, for a receiver that runs them in two threads of its own
        so that writing one chunk overlaps hashing the previous. They must run in this order, each seeing every
        chunk exactly once and in order, the hash only chunks the write finished: then, once both are idle,
        digest and size agree, even after a failed write (hashing first would let the digest run ahead of the
        file, and a resumed stream would then be sealed against the wrong digest)."""
        fd = self._require_open()

        def hash_stage(chunk: memoryview) -> None:
            self._running.update(chunk)

        def write_stage(chunk: memoryview) -> None:
            n = chunk.nbytes
            self._check_room(n)
            self._write_at(fd, chunk)
            self._advance(fd, n)

        return write_stage, hash_stage

    def _write_blocking(self, fd: int, chunk: bytes | bytearray | memoryview) -> None:
        self._write_at(fd, chunk)
        self._running.update(chunk)
        self._advance(fd, memoryview(chunk).nbytes)

    def _advance(self, fd: int, n: int) -> None:
        self._size += n
        if self._size - self._durable >= self.checkpoint_bytes:
            self._checkpoint_blocking(fd)

    def _checkpoint_blocking(self, fd: int) -> None:
        try:
            os.fsync(fd)
            record = PartRecord(self.transfer_id, self.expected_size, self._size)
            write_atomically(self.record_path, record.to_bytes())
        except OSError as exc:
            raise _unwritable(exc, self.part_path) from exc
        self._durable = self._size

    async def checkpoint(self) -> None:
        """Make everything written so far durable and record it."""
        await self._run(self._checkpoint_blocking, self._require_open())

    async def expect(self, size: int | None) -> None:
        """Take `size` as the size of the data (None: unknown), as the provider's answer states it, and record it:
        no write may go past it, and a later run resuming this part knows it (`recorded_size`)."""
        if size == self.expected_size:
            return
        self.expected_size = size
        await self.checkpoint()

    async def restart(self) -> None:
        """Drop what is held and start from byte 0 (the provider answered 200 to a resumed request)."""
        fd = self._require_open()

        def blocking() -> None:
            os.ftruncate(fd, 0)
            self._size = 0
            self._running = RunningDigest()
            self._checkpoint_blocking(fd)

        await self._run(blocking)
        self.resumed = False

    # --- ending ------------------------------------------------------------------------------------------------

    async def commit(self, sealed: SealFacts) -> Path:
        """Publish the download under its final name. Requires the verified seal of exactly these bytes, so
        nothing unverified can ever appear under the final name."""
        fd = self._require_open()
        held = self._running.digest()
        if sealed.digest != held:
            raise DownloadError(
                "download.unverified",
                "the verified seal does not cover the bytes written (different SHA-256 or size)",
                str(self.part_path),
            )
        await self._run(self._commit_blocking, fd)
        return self.final_path

    async def commit_unsealed(self, recorded: Digest) -> Path:
        """Publish the download without a seal: for data from a provider that does not seal, once the consumer's
        node has recorded `recorded` (the digest it was told) as received unsealed. It must be these bytes."""
        fd = self._require_open()
        if recorded != self._running.digest():
            raise DownloadError(
                "download.unverified",
                "the digest recorded for the unsealed data is not that of the bytes written",
                str(self.part_path),
            )
        await self._run(self._commit_blocking, fd)
        return self.final_path

    def _commit_blocking(self, fd: int) -> None:
        self._close_direct()
        try:
            os.fsync(fd)
        except OSError as exc:
            raise _unwritable(exc, self.part_path) from exc
        os.close(fd)
        self._fd = None
        if self._overwrite:
            os.replace(self.part_path, self.final_path)
        else:
            try:
                # link() refuses to replace an existing name, atomically.
                os.link(self.part_path, self.final_path)
            except FileExistsError:
                raise DownloadError(
                    "download.exists", f"'{self.final_path.name}' appeared meanwhile", str(self.final_path)
                ) from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise
                # A file system without hard links: a plain rename, after a check.
                if os.path.lexists(self.final_path):
                    raise DownloadError(
                        "download.exists", f"'{self.final_path.name}' appeared meanwhile", str(self.final_path)
                    ) from None
                os.rename(self.part_path, self.final_path)
            else:
                os.unlink(self.part_path)
        _unlink_quietly(self.record_path)
        _sync_folder(self.final_path.parent)
        self._committed = True

    async def pause(self) -> None:
        """Stop for now, keeping the part and its record for a later resume."""
        if self._fd is None:
            return
        fd = self._fd

        def blocking() -> None:
            try:
                self._close_direct()
                self._checkpoint_blocking(fd)
            except DownloadError:
                pass  # the record stays as last written: beginning again re-hashes the part as it is
            finally:
                os.close(fd)

        self._fd = None
        await self._run(blocking)

    async def discard(self) -> None:
        """Give up: remove the part and its record."""
        fd, self._fd = self._fd, None

        def blocking() -> None:
            self._close_direct()
            if fd is not None:
                os.close(fd)
            _unlink_quietly(self.part_path)
            _unlink_quietly(self.record_path)

        await self._run(blocking)

    @property
    def committed(self) -> bool:
        return self._committed

    async def __aenter__(self) -> AtomicDownload:
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Whatever happened, an uncommitted download keeps its part for a resume.
        await self.pause()
