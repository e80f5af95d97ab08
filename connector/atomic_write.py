"""Replacing a small file whole: readers see the old content or the new, never part of either.

The bytes go to a temporary file of this writer's own beside the target (its process id and a random part), are
synced, and the temporary file is renamed over the target. Writers of the same file at once (replicas sharing a
data folder, each keeping the same fetched CRL) never write into each other's temporary file, and the last rename
wins whole. The temporary file is created exclusively, so a link planted under its name is not followed. A write
the file system refuses (a full disk) raises its OSError naming `path`, the file that was not written.

`write_new` creates a file that must not exist yet the same way, but links the temporary file to its name instead
of renaming it: whatever holds the name already (a file written by someone else meanwhile too) stays as it is. On
a file system without hard links it looks at the name first, then renames.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path


def _temporary(path: Path, data: bytes, mode: int) -> Path:
    """A synced temporary file beside `path` holding `data`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:  # a refused write names no file: this is the one
            exc.filename = str(path)
        raise
    return tmp


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` (a new file gets `mode`, less the umask)."""
    path = Path(path)
    tmp = _temporary(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# What link() answers on a file system without hard links (FAT, some network and FUSE file systems).
_NO_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})


def write_new(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create `path` holding `data`, whole or not at all; FileExistsError (and nothing changed) if the name is
    taken already."""
    path = Path(path)
    tmp = _temporary(path, data, mode)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            # No hard links here: the name is looked at, then taken by renaming (a writer of this process alone).
            if os.path.lexists(path):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
