"""Catalogue pages: which items a page holds and where the next and previous pages are.

DSP paginates catalogue responses with HTTP `Link` headers (rel "next" and "previous", Catalog HTTPS binding);
the query parameter is ours to choose. The cursor is an opaque token for an offset into the ordered item list:
opaque so that peers do not build their own, offset-based so that it needs no server-side state. If the
catalogue changes between two requests a page may repeat or skip an item, which a catalogue crawl tolerates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from connector.canonical import b64url, b64url_decode
from connector.errors import ConnectorError

T = TypeVar("T")

CURSOR_PARAMETER = "continuationToken"
_CURSOR_TEXT = re.compile(r"offset:(0|[1-9][0-9]{0,17})")


def encode_cursor(offset: int) -> str:
    if offset < 0:
        raise ValueError("a cursor offset cannot be negative")
    return b64url(f"offset:{offset}".encode("ascii"))


def decode_cursor(cursor: str) -> int:
    """The offset a cursor stands for; `dsp.invalid_cursor` for anything we did not issue."""
    try:
        text = b64url_decode(cursor).decode("ascii") if len(cursor) <= 40 else ""
    except ValueError:  # bad base64 (binascii.Error) or non-ASCII bytes (UnicodeDecodeError)
        text = ""
    match = _CURSOR_TEXT.fullmatch(text)
    if match is None:
        raise ConnectorError(
            "dsp.invalid_cursor", "the page cursor is not one this catalogue issued", where=CURSOR_PARAMETER
        )
    return int(match.group(1))


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    offset: int
    page_size: int
    total: int

    @property
    def next_cursor(self) -> str | None:
        following = self.offset + self.page_size
        return encode_cursor(following) if following < self.total else None

    @property
    def previous_cursor(self) -> str | None:
        if self.offset == 0 or self.total == 0:
            return None
        last_page = (self.total - 1) // self.page_size * self.page_size
        return encode_cursor(min(max(0, self.offset - self.page_size), last_page))

    def link_targets(self, base_url: str, parameter: str = CURSOR_PARAMETER) -> dict[str, str]:
        """rel -> URL for the pages around this one: {"next": ..., "previous": ...}, each present if it exists."""
        targets = {}
        if self.next_cursor is not None:
            targets["next"] = _with_parameter(base_url, parameter, self.next_cursor)
        if self.previous_cursor is not None:
            targets["previous"] = _with_parameter(base_url, parameter, self.previous_cursor)
        return targets

    def link_headers(self, base_url: str, parameter: str = CURSOR_PARAMETER) -> tuple[str, ...]:
        """One `Link` header value per neighbouring page: '<https://p/catalog/request?continuationToken=..>; rel="next"'

        Send each as its own `Link` header, as the DSP Catalog HTTPS binding shows."""
        return tuple(f'<{url}>; rel="{rel}"' for rel, url in self.link_targets(base_url, parameter).items())


def paginate(items: Sequence[T], *, page_size: int, cursor: str | None = None) -> Page[T]:
    """The page of `items` (already in a stable order) that `cursor` points at; the first page without one."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    offset = 0 if cursor is None else decode_cursor(cursor)
    return Page(items=tuple(items[offset : offset + page_size]), offset=offset, page_size=page_size, total=len(items))


def _with_parameter(url: str, parameter: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != parameter]
    query.append((parameter, value))
    return urlunsplit(parts._replace(query=urlencode(query)))
