"""Errors are values: a stable machine code, a human reason, and where it applies.

The same object travels from the place that detects a problem to the wire (DSP error bodies, RFC 9457
problem details) and to the command line, so the reason an operator reads is the reason the code decided on.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """A reasoned failure. `code` is stable and machine-readable (dotted, e.g. ``config.missing``);
    `reason` is one human sentence; `where` names the offending field, key or path when there is one."""

    code: str
    reason: str
    where: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.reason} ({self.where})" if self.where else self.reason


class ConnectorError(Exception):
    """An exception that carries a `Problem`. Raise it where a value cannot be returned."""

    def __init__(self, code: str, reason: str, where: str | None = None, **details: Any) -> None:
        self.problem = Problem(code, reason, where, dict(details))
        super().__init__(str(self.problem))

    @property
    def code(self) -> str:
        return self.problem.code

    @property
    def reason(self) -> str:
        return self.problem.reason

    @property
    def where(self) -> str | None:
        return self.problem.where


class ConfigError(ConnectorError):
    """The configuration is invalid; `where` names the key."""


class UsageError(ConnectorError):
    """The command line was used wrongly."""


# What a file system answers when it has no room left for a write: a full disk, a quota reached.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def no_space(path: object, code: str, where: str | None = None) -> ConnectorError:
    """No room on the device for a file the command writes whole or not at all (`path`): `<code>.no_space`."""
    return ConnectorError(
        f"{code}.no_space", f"no space left on the device that holds {path}: nothing was written", where
    )


def not_written(exc: OSError, path: object, code: str, where: str | None = None) -> ConnectorError:
    """A file the command writes whole or not at all (`path`) that the file system refused, as one clear error:
    `<code>.no_space` for want of room, `<code>.unwritable` otherwise, naming the file and the cause."""
    if exc.errno in NO_SPACE:
        return no_space(path, code, where)
    return ConnectorError(
        f"{code}.unwritable", f"{path} cannot be written ({exc.strerror or exc}): nothing was written", where
    )
