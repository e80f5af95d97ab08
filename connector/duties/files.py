"""The files the duties are about: recognising the data a node received, and removing it (blocking: run these
in a worker thread).

A file is removed only while it still holds the data received: the same file as written (size, modification
time and inode unchanged), or, when it was touched since, the same bytes (SHA-256). Anything else at its path is
someone else's file now and is left alone.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

DELETED = "deleted"
ABSENT = "absent"
_CHUNK = 1024 * 1024


def stamp_of(path: str | Path) -> str | None:
    """The file as it is now ("size:mtime_ns:inode"), or None when `path` is not a regular file."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def sha256_of(path: str | Path) -> str | None:
    try:
        with open(path, "rb") as f:
            digest = hashlib.sha256()
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def holds(path: str | Path, stamp: str | None, sha256: str, size: int) -> bool:
    """Whether `path` still holds the data received (as stamped then, or by its bytes)."""
    now = stamp_of(path)
    if now is None:
        return False
    if stamp is not None and now == stamp:
        return True
    return int(now.split(":", 1)[0]) == size and sha256_of(path) == sha256


def remove(path: str | None, stamp: str | None, sha256: str, size: int) -> str:
    """Delete the data received at `path`: DELETED, or ABSENT when nothing of it is there any more."""
    if path is None or not holds(path, stamp, sha256, size):
        return ABSENT
    try:
        os.unlink(path)
    except FileNotFoundError:
        return ABSENT
    return DELETED
