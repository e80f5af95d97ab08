"""File source: a file, or a folder streamed as a tar archive, below one of the node's configured data roots.

Data address: ``{"type": "file", "path": "reports/2024.csv", "root": "default", "mediaType": "text/csv"}``;
`path` is relative to the named root (default "default") and may not leave it (see safepath). Reads happen in
worker threads with pread, one 256 KiB chunk at a time, so the event loop never blocks and memory stays flat.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import re
import stat
import sys
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.errors import Problem
from connector.sources.base import DataStream, SourceContext, SourceError, StreamInfo
from connector.sources.fields import check_media_type, invalid, missing, unknown_fields
from connector.sources.positional import positional_chunks
from connector.sources.safepath import (
    DIR_FLAGS,
    errname,
    open_beneath,
    open_root,
    path_problems,
    split_path,
)
from connector.sources.tarstream import MemberSpec, TarPlan, TarReader
from connector.web.ranges import ByteRange

KIND = "file"
DEFAULT_ROOT = "default"
TAR_MEDIA_TYPE = "application/x-tar"
MAX_FOLDER_DEPTH = 128
_FIELDS = frozenset({"type", "path", "root", "mediaType"})
_ROOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Only Python's built-in table: guessing must not depend on the host's mime.types files.
_TYPES = mimetypes.MimeTypes(filenames=())
_TYPES.add_type("application/jsonl", ".jsonl")
_TYPES.add_type("application/vnd.apache.parquet", ".parquet")


def validate_source_config(config: Mapping[str, Any]) -> list[Problem]:
    problems = unknown_fields(config, _FIELDS)
    if "path" not in config:
        problems.append(missing("path", "the path of the file or folder below the data root"))
    else:
        problems += path_problems(config["path"])
    if "root" in config:
        root = config["root"]
        if not isinstance(root, str) or _ROOT_NAME.fullmatch(root) is None:
            problems.append(invalid("root", "root must name a configured data root (letters, digits, _ . -)"))
    problems += check_media_type(config)
    return problems


def build_source(config: Mapping[str, Any], context: SourceContext) -> FileSource:
    problems = validate_source_config(config)
    if problems:
        raise SourceError(problems[0].code, problems[0].reason, problems[0].where)
    root_name = config.get("root", DEFAULT_ROOT)
    root = context.file_roots.get(root_name)
    if root is None:
        raise SourceError("source.file.no_root", f"no data root named '{root_name}' is configured", "root")
    return FileSource(Path(root), split_path(config["path"]), config.get("mediaType"), context.executor)


# Non-blocking reads from the page cache (Linux 4.14+); 0 where unavailable.
_NOWAIT = getattr(os, "RWF_NOWAIT", 0) if hasattr(os, "preadv") else 0

_COMPRESSED = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz"}


def guess_media_type(name: str) -> str:
    guessed, encoding = _TYPES.guess_type(name, strict=False)
    if encoding is not None:
        # A compressed file (x.csv.gz) is not text/csv on the wire: it is sent as it is stored.
        return _COMPRESSED.get(encoding, "application/octet-stream")
    return guessed or "application/octet-stream"


class FileSource:
    kind = KIND
    seekable = True

    def __init__(
        self, root: Path, parts: tuple[str, ...], media_type: str | None = None, executor: Executor | None = None
    ) -> None:
        self._root = root
        self._parts = parts
        self._media_type = media_type
        self._executor = executor

    @property
    def label(self) -> str:
        return "/".join(self._parts)

    async def open(self, byte_range: ByteRange | None = None) -> DataStream:
        loop = asyncio.get_running_loop()
        opened = await loop.run_in_executor(self._executor, self._open_blocking)

        async def release() -> None:
            await loop.run_in_executor(self._executor, opened.close)

        try:
            served = byte_range.resolve(opened.total_size) if byte_range is not None else None
        except BaseException:
            await release()
            raise
        start, stop = (served.start, served.stop) if served is not None else (0, opened.total_size)
        assert stop is not None
        info = StreamInfo(
            media_type=self._media_type or opened.media_type,
            size=stop - start,
            total_size=opened.total_size,
            range=served,
            name=opened.name,
            etag=opened.etag,
        )
        fast = opened.try_read_at if isinstance(opened, _OpenFile) else None
        return DataStream(
            info, positional_chunks(opened.read_at, start, stop, self._executor, try_read_at=fast), release
        )

    def _open_blocking(self) -> _OpenFile | _OpenFolder:
        root_fd = open_root(self._root)
        try:
            fd, st = open_beneath(root_fd, self._parts)
        finally:
            os.close(root_fd)
        try:
            if stat.S_ISDIR(st.st_mode):
                return _OpenFolder.scan(fd, self._parts[-1], self.label)
            return _OpenFile(fd, st, self._parts[-1], self.label)
        except BaseException as exc:
            os.close(fd)
            if isinstance(exc, OSError):
                raise _unreadable(self.label, exc) from None
            raise


def _unreadable(label: str, exc: OSError) -> SourceError:
    return SourceError("source.file.unreadable", f"'{label}' could not be read ({errname(exc)})", "path")


def _changed(label: str) -> SourceError:
    return SourceError("source.file.changed", f"'{label}' changed while it was being sent", "path")


def _pread_exactly(fd: int, offset: int, n: int, label: str) -> bytes:
    try:
        return _pread_loop(fd, offset, n, label)
    except OSError as exc:
        raise _unreadable(label, exc) from None


def _pread_loop(fd: int, offset: int, n: int, label: str) -> bytes:
    data = os.pread(fd, n, offset)
    if len(data) == n:
        return data
    # Rare: a short read from a regular file means it shrank, or the kernel split the read.
    pieces = [data]
    got = len(data)
    while got < n:
        more = os.pread(fd, n - got, offset + got)
        if not more:
            raise _changed(label)
        pieces.append(more)
        got += len(more)
    return b"".join(pieces)


def _etag(*fields: object) -> str:
    # Opaque: inode numbers and times are nobody else's business.
    return '"' + hashlib.sha256(repr(fields).encode("utf-8", "surrogateescape")).hexdigest()[:32] + '"'


class _Recycled:
    """Read buffers handed out again once nobody holds them any more.

    A fresh 256 KiB buffer for every read costs its zeroing and, as often as not, the page faults of memory the
    allocator just gave back: a tenth of what serving a cached file costs. A buffer is taken again only when the
    pool's own references are the only ones left (CPython counts every holder: the consumer's variables, a
    transport's backlog, a memoryview, a C caller's buffer export), so nothing that still reads it can see it
    change. Calls must not overlap (the file's lock serialises them)."""

    def __init__(self, keep: int = 4) -> None:
        self._keep = keep
        self._pool: list[bytearray] = []

    def take(self, n: int) -> bytearray:
        for buffer in self._pool:
            # References: the pool's list, this loop's variable and getrefcount's argument.
            if len(buffer) == n and sys.getrefcount(buffer) == 3:
                return buffer
        buffer = bytearray(n)
        if len(self._pool) < self._keep:
            self._pool.append(buffer)
        return buffer


class _OpenFile:
    """One open regular file. `read_at` and `close` may run in different worker threads; the lock makes a close
    wait for a read in flight, so a descriptor is never closed (and its number reused) under a reader."""

    def __init__(self, fd: int, st: os.stat_result, name: str, label: str) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self._label = label
        self.total_size = st.st_size
        self.name = name
        self.media_type = guess_media_type(name)
        self.etag = _etag(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        self._finalizer = weakref.finalize(self, os.close, fd)
        self._buffers = _Recycled()

    def read_at(self, offset: int, n: int) -> bytes:
        with self._lock:
            if not self._finalizer.alive:
                raise SourceError("source.stream.closed", "the stream was closed", None)
            return _pread_exactly(self._fd, offset, n, self._label)

    def try_read_at(self, offset: int, n: int) -> bytearray | None:
        """The bytes if the page cache holds them all (never waiting for the disk, nor for a reader or a close
        holding the lock); None otherwise."""
        if not _NOWAIT or not self._lock.acquire(blocking=False):
            return None
        try:
            if not self._finalizer.alive:
                return None
            buffer = self._buffers.take(n)
            try:
                got = os.preadv(self._fd, [buffer], offset, _NOWAIT)
            except OSError:  # EAGAIN (not cached), or no support here: the worker path decides
                return None
            return buffer if got == n else None
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            self._finalizer()


@dataclass(frozen=True)
class _FileIdentity:
    parts: tuple[str, ...]
    dev: int
    ino: int
    size: int


class _OpenFolder:
    """A folder laid out as a tar archive; members are reopened (race-free, below the folder) when reached."""

    def __init__(self, fd: int, plan: TarPlan, files: dict[int, _FileIdentity], name: str, label: str, etag: str):
        self._fd = fd
        self._lock = threading.Lock()
        self._files = files
        self._label = label
        self._current: tuple[int, int] | None = None  # (member index, its descriptor)
        self._reader = TarReader(plan, self._read_content)
        self.total_size = plan.total_size
        self.name = name + ".tar"
        self.media_type = TAR_MEDIA_TYPE
        self.etag = etag
        self._fds = [fd]
        self._finalizer = weakref.finalize(self, _close_all, self._fds)

    @classmethod
    def scan(cls, fd: int, top: str, label: str) -> _OpenFolder:
        specs = [MemberSpec(top, is_dir=True)]
        files: dict[int, _FileIdentity] = {}
        tag = hashlib.sha256()
        _scan_into(fd, (), top, label, specs, files, tag)
        return cls(fd, TarPlan.of(specs), files, top, label, '"' + tag.hexdigest()[:32] + '"')

    def _read_content(self, index: int, offset: int, n: int) -> bytes:
        if self._current is None or self._current[0] != index:
            self._switch_to(index)
        assert self._current is not None
        return _pread_exactly(self._current[1], offset, n, self._label)

    def _switch_to(self, index: int) -> None:
        if self._current is not None:
            self._fds.remove(self._current[1])
            os.close(self._current[1])
            self._current = None
        ident = self._files[index]
        member_label = "/".join((self._label,) + ident.parts)
        try:
            fd, st = open_beneath(self._fd, ident.parts, member_label)
        except SourceError:
            raise _changed(member_label) from None
        same = (st.st_dev, st.st_ino, st.st_size) == (ident.dev, ident.ino, ident.size)
        if not same or not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise _changed(member_label)
        self._fds.append(fd)
        self._current = (index, fd)

    def read_at(self, offset: int, n: int) -> bytes:
        with self._lock:
            if not self._finalizer.alive:
                raise SourceError("source.stream.closed", "the stream was closed", None)
            return self._reader.read_at(offset, n)

    def close(self) -> None:
        with self._lock:
            self._finalizer()


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
    fds.clear()


def _scan_into(
    dir_fd: int,
    parts: tuple[str, ...],
    top: str,
    label: str,
    specs: list[MemberSpec],
    files: dict[int, _FileIdentity],
    tag: Any,
) -> None:
    if len(parts) >= MAX_FOLDER_DEPTH:
        raise SourceError("source.file.too_deep", f"'{label}' nests folders more than {MAX_FOLDER_DEPTH} deep", "path")
    # Sorted by raw name bytes: the same order whatever the locale or file system.
    for name in sorted(os.listdir(dir_fd), key=os.fsencode):
        rel = parts + (name,)
        shown = "/".join((label,) + rel)
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        tag.update(repr((rel, st.st_mode, st.st_size, st.st_ino, st.st_mtime_ns)).encode("utf-8", "surrogateescape"))
        member_name = "/".join((top,) + rel)
        if stat.S_ISLNK(st.st_mode):
            raise SourceError(
                "source.file.symlink",
                f"'{shown}' is a symbolic link; a folder containing links is not sent",
                "path",
            )
        if stat.S_ISDIR(st.st_mode):
            specs.append(MemberSpec(member_name, is_dir=True))
            try:
                sub = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                raise SourceError("source.file.changed", f"'{shown}' changed while being listed", "path") from None
            try:
                _scan_into(sub, rel, top, label, specs, files, tag)
            finally:
                os.close(sub)
        elif stat.S_ISREG(st.st_mode):
            files[len(specs)] = _FileIdentity(rel, st.st_dev, st.st_ino, st.st_size)
            executable = bool(st.st_mode & stat.S_IXUSR)
            specs.append(MemberSpec(member_name, is_dir=False, size=st.st_size, executable=executable))
        else:
            raise SourceError("source.file.not_regular", f"'{shown}' is neither a regular file nor a folder", "path")
