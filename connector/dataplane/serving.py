"""How a pull response is shaped: which range to serve, its status and headers. Pure.

A source is *repeatable* when it can be opened again at a byte offset and names its version (an ETag): then
ranges are honoured (an interrupted pull resumes with ``Range`` and ``If-Range``) and its seal is computed once
per version by a separate read. Any other source is served whole, hashed as it is sent, and sealed at the end of
the first stream that reached its last byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.sources import StreamInfo
from connector.web.ranges import ByteRange, format_content_range, parse_range_header


def requested_range(range_header: str | None) -> ByteRange | None:
    """The single range asked for, when it can be served without knowing the size first (``bytes=N-`` and
    ``bytes=N-M``); anything else is served whole, as RFC 9110 allows."""
    return parse_range_header(range_header, None)


def validator_matches(condition: str | None, etag: str | None) -> bool:
    """If-Range / If-Match semantics with strong comparison: no condition always matches; a condition matches
    only an identical strong ETag (a date or a weak tag never does)."""
    if condition is None:
        return True
    if etag is None or etag.startswith("W/"):
        return False
    return any(part.strip() == etag for part in condition.split(",")) or condition.strip() == "*"


def is_repeatable(seekable: bool, info: StreamInfo) -> bool:
    return seekable and info.etag is not None and info.total_size is not None


@dataclass(frozen=True)
class ResponseShape:
    status: int
    headers: dict[str, str]


def shape(info: StreamInfo, *, repeatable: bool, seal_url: str) -> ResponseShape:
    """Status and headers for a stream about to be served (206 when `info.range` is set)."""
    headers = {
        "Content-Type": info.media_type,
        "Cache-Control": "no-store",
        "Accept-Ranges": "bytes" if repeatable else "none",
        "Link": f'<{seal_url}>; rel="seal"',
    }
    if info.size is not None:
        headers["Content-Length"] = str(info.size)
    if info.etag is not None and repeatable:
        headers["ETag"] = info.etag
    if info.name:
        safe = "".join(c for c in info.name if c.isalnum() or c in "._-") or "data"
        headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    status = 200
    if info.range is not None:
        status = 206
        headers["Content-Range"] = format_content_range(info.range, info.total_size)
    return ResponseShape(status, headers)
