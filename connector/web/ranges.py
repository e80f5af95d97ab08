"""Byte ranges: the one piece of HTTP range semantics (RFC 9110 section 14) that serving and fetching data need.

Only single ranges are honoured. A header this module cannot use (another unit, several ranges, bad syntax) is
ignored and the whole representation is served, which RFC 9110 allows; only a well-formed range that lies wholly
beyond the end is refused (416), because resuming a download past its end is a real mistake worth reporting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connector.errors import ConnectorError


class RangeNotSatisfiable(ConnectorError):
    """A well-formed range that selects no byte of the representation (HTTP 416)."""

    def __init__(self, start: int, total: int) -> None:
        super().__init__(
            "source.range.unsatisfiable",
            f"the range starting at byte {start} lies beyond the end of the data ({total} bytes)",
            "range",
            start=start,
            total=total,
        )
        self.total = total


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` up to but excluding ``stop``; ``stop`` None means up to the end."""

    start: int
    stop: int | None = None

    def __post_init__(self) -> None:
        if self.start < 0:
            raise ValueError("a byte range cannot start before byte 0")
        if self.stop is not None and self.stop <= self.start:
            raise ValueError("a byte range must select at least one byte")

    def resolve(self, total: int | None) -> ByteRange:
        """This range clipped to a representation of `total` bytes (unchanged when the size is unknown)."""
        if total is None:
            return self
        if self.start >= total:
            raise RangeNotSatisfiable(self.start, total)
        stop = total if self.stop is None else min(self.stop, total)
        return ByteRange(self.start, stop)

    def length(self) -> int | None:
        return None if self.stop is None else self.stop - self.start


_RANGE = re.compile(r"bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*", re.ASCII | re.IGNORECASE)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)", re.ASCII)
# Numbers longer than this are not byte offsets anyone can serve; refusing them keeps int() cheap.
_MAX_DIGITS = 19


def parse_range_header(value: str | None, total: int | None) -> ByteRange | None:
    """The single byte range a ``Range`` header asks for, resolved against `total` when known.

    Returns None when the header is absent or unusable (serve everything with 200). Raises
    RangeNotSatisfiable when the range starts at or beyond `total`.
    """
    if value is None:
        return None
    m = _RANGE.fullmatch(value.strip())
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if len(first) > _MAX_DIGITS or len(last) > _MAX_DIGITS:
        return None
    if first == "":
        # Suffix range "bytes=-N": the last N bytes, which needs the size.
        if last == "" or total is None:
            return None
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(total, total)
        if total == 0:
            raise RangeNotSatisfiable(0, 0)
        return ByteRange(max(0, total - suffix), total)
    start = int(first)
    if last == "":
        stop = None
    else:
        end = int(last)
        if end < start:
            return None
        stop = end + 1
    return ByteRange(start, stop).resolve(total)


def format_range_header(byte_range: ByteRange) -> str:
    """The ``Range`` request header value asking for `byte_range`."""
    if byte_range.stop is None:
        return f"bytes={byte_range.start}-"
    return f"bytes={byte_range.start}-{byte_range.stop - 1}"


def format_content_range(byte_range: ByteRange, total: int | None) -> str:
    """The ``Content-Range`` value of a 206 response serving `byte_range` (which must be resolved)."""
    if byte_range.stop is None:
        raise ValueError("a served range must have a known end")
    return f"bytes {byte_range.start}-{byte_range.stop - 1}/{'*' if total is None else total}"


def format_unsatisfied_range(total: int) -> str:
    """The ``Content-Range`` value of a 416 response."""
    return f"bytes */{total}"


def parse_content_range(value: str | None) -> tuple[ByteRange, int | None] | None:
    """The range and total size a 206 response's ``Content-Range`` states, or None when it is unusable."""
    if value is None:
        return None
    m = _CONTENT_RANGE.fullmatch(value.strip())
    if m is None or any(len(g) > _MAX_DIGITS for g in m.groups()):
        return None
    start, end = int(m.group(1)), int(m.group(2))
    total = None if m.group(3) == "*" else int(m.group(3))
    if end < start or (total is not None and end >= total):
        return None
    return ByteRange(start, end + 1), total
