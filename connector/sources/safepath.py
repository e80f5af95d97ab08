"""Opening a path strictly below a root folder, one component at a time, never following a symbolic link.

Each step opens the next component relative to the descriptor of the folder already opened, with O_NOFOLLOW,
so there is no window between checking a path and opening it: what is opened is what was checked. Every symbolic
link is refused, even one that points inside the root, because its target is whatever it is at the moment of
use (anyone who can write in the data folder can re-point it outside), and because the bytes behind an asset
must be those of the path its agreement names.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence

from connector.errors import Problem
from connector.sources.base import SourceError

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO for reading must not hang the worker; it is refused right after by fstat.
LEAF_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def path_problems(path: object, where: str = "path") -> list[Problem]:
    """Why `path` cannot name something below a root (empty when it can)."""
    if not isinstance(path, str) or path == "":
        return [Problem("source.config.invalid", "the path must be a non-empty string", where)]
    if "\x00" in path:
        return [Problem("source.file.escape", "the path contains a NUL character", where)]
    if path.startswith("/"):
        return [Problem("source.file.escape", "the path must be relative to the data root, not absolute", where)]
    if "\\" in path:
        return [Problem("source.file.escape", "the path must use / as separator and contain no backslash", where)]
    for part in path.split("/"):
        if part == "..":
            return [Problem("source.file.escape", "the path must not contain '..' components", where)]
        if part in ("", "."):
            return [Problem("source.file.escape", "the path must not contain empty or '.' components", where)]
    return []


def split_path(path: str) -> tuple[str, ...]:
    """The components of a path `path_problems` accepted."""
    problems = path_problems(path)
    if problems:
        p = problems[0]
        raise SourceError(p.code, p.reason, p.where)
    return tuple(path.split("/"))


def open_root(root: os.PathLike[str] | str) -> int:
    """A descriptor of a configured root folder (the root itself is operator configuration and may be a link)."""
    try:
        return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise SourceError(
            "source.file.root_unavailable", f"the data root folder cannot be opened ({errname(exc)})", "root"
        ) from None


def open_beneath(dir_fd: int, parts: Sequence[str], shown: str | None = None) -> tuple[int, os.stat_result]:
    """Open `parts` below the folder `dir_fd`: returns a descriptor (the caller closes it) of a regular file or
    a folder, and its stat. `shown` is how the path appears in reasons (relative, never the root's location)."""
    if not parts:
        raise ValueError("an empty path names the root itself")
    label = shown if shown is not None else "/".join(parts)
    current = dir_fd
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            try:
                fd = os.open(part, LEAF_FLAGS if last else DIR_FLAGS, dir_fd=current)
            except OSError as exc:
                raise _refusal(exc, current, part, "/".join(parts[: i + 1]), label, last) from None
            if current != dir_fd:
                os.close(current)
            current = fd
        st = os.fstat(current)
    except BaseException:
        if current != dir_fd:
            os.close(current)
        raise
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        os.close(current)
        raise SourceError("source.file.not_regular", f"'{label}' is neither a regular file nor a folder", "path")
    return current, st


def _refusal(exc: OSError, parent_fd: int, part: str, prefix: str, label: str, last: bool) -> SourceError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        # O_NOFOLLOW reports a link as ELOOP, or as ENOTDIR together with O_DIRECTORY; look (without
        # following) only to word the refusal, which stands either way.
        try:
            is_link = stat.S_ISLNK(os.stat(part, dir_fd=parent_fd, follow_symlinks=False).st_mode)
        except OSError:
            is_link = False
        if is_link:
            return SourceError(
                "source.file.symlink",
                f"'{prefix}' is a symbolic link; links are never followed below the data root",
                "path",
            )
        if not last:
            return SourceError(
                "source.file.not_found", f"'{prefix}' is not a folder, so '{label}' does not exist", "path"
            )
    if exc.errno == errno.ENOENT:
        return SourceError("source.file.not_found", f"'{label}' does not exist below the data root", "path")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return SourceError("source.file.forbidden", f"'{prefix}' cannot be read (permission denied)", "path")
    return SourceError("source.file.unreadable", f"'{prefix}' cannot be opened ({errname(exc)})", "path")


def errname(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "error")
