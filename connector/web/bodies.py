"""Reading request bodies that hold messages (DSP, DCP, management): bounded in size and time, and parsed as
strict JSON, so that whatever a client sends ends in a value or a clear 400, never in a 500 or a traceback.

Strict JSON: UTF-8 only; at most MAX_DEPTH levels of nesting (checked before the parser recurses); no NaN,
Infinity or numbers that do not fit a double (1e400) - RFC 8259 has none of them, and the canonical forms that
evidence is built on (RFC 8785) cannot represent them.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from aiohttp import web

from connector.errors import ConnectorError

CHUNK = 64 * 1024
MAX_DEPTH = 64
# Problem codes after which the connection is closed: the rest of the body is not read (or never came).
CLOSING = frozenset({"request.too_large", "request.timeout"})


async def read_body(request: web.Request, max_bytes: int, timeout: float) -> bytes:
    """The whole body, refused past `max_bytes` (whatever was declared) or when it takes longer than `timeout`."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ConnectorError(
                        "request.too_large", f"the body is larger than the {max_bytes} bytes accepted", "$"
                    )
                chunks.append(chunk)
    except TimeoutError:
        raise ConnectorError("request.timeout", f"the body did not arrive within {timeout:g} s", "$") from None
    return b"".join(chunks)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} does not fit a double")
    return value


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def nesting_depth(text: str, bound: int = MAX_DEPTH) -> int:
    """How deeply arrays and objects nest in `text` (brackets inside strings do not count), found without
    recursion; when there are no more openers than `bound` at all, their count is returned (an upper bound)."""
    openers = text.count("[") + text.count("{")
    if openers <= bound:
        return openers
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_json(data: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """`data` as strict JSON; ConnectorError("request.invalid_json") naming what is wrong otherwise."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConnectorError(
            "request.invalid_json", f"the body is not UTF-8 (invalid byte at position {exc.start})", "$"
        ) from None
    if nesting_depth(text, max_depth) > max_depth:
        raise ConnectorError(
            "request.invalid_json", f"the body nests arrays and objects deeper than {max_depth} levels", "$"
        )
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except ValueError as exc:
        raise ConnectorError("request.invalid_json", f"the body is not valid JSON: {exc}", "$") from None


async def read_json(request: web.Request, max_bytes: int, timeout: float) -> Any:
    return parse_json(await read_body(request, max_bytes, timeout))


async def stalling(chunks: AsyncIterable[bytes], timeout: float) -> AsyncIterator[bytes]:
    """`chunks`, ended by ConnectionError when none arrives for `timeout` seconds (a stream that stopped moving:
    the longest pause a streamed body may make)."""
    iterator = aiter(chunks)
    while True:
        try:
            async with asyncio.timeout(timeout):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ConnectionError(f"no data arrived for {timeout:g} s") from None
        yield chunk
