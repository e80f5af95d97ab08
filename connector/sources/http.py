"""HTTP source: the provider's own back end, streamed through without buffering.

Data address::

    {"type": "http", "url": "https://backend.internal/export.csv",
     "headers": {"Authorization": {"env": "BACKEND_TOKEN", "prefix": "Bearer "}, "X-Tenant": "org-a"},
     "basicAuth": {"username": "svc", "password": {"env": "BACKEND_PASSWORD"}},
     "timeouts": {"connect": 10, "read": 60, "total": 3600}, "ranges": true, "mediaType": "text/csv"}

Credentials and headers go to the back end only: the consumer receives the bytes, a media type and a size,
never an upstream header, body of an error, URL or secret. Upstream failures become Problems with the status and
a standard phrase. Redirects are not followed (a credential must not travel to wherever the back end points).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from connector.errors import Problem
from connector.sources.base import (
    CHUNK_SIZE,
    DataStream,
    SourceContext,
    SourceError,
    StreamInfo,
    unsupported_range,
)
from connector.sources.fields import (
    check_media_type,
    check_seconds,
    check_secret,
    invalid,
    is_media_type,
    missing,
    resolve_secret,
    unknown_fields,
)
from connector.web.ranges import ByteRange, RangeNotSatisfiable, format_range_header, parse_content_range

KIND = "http"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
_FIELDS = frozenset({"type", "url", "headers", "basicAuth", "timeouts", "ranges", "mediaType"})
_TIMEOUT_FIELDS = frozenset({"connect", "read", "total"})
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Headers this source manages itself: framing, the range it asks for, and identity encoding (so sizes hold).
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "te",
        "upgrade",
        "range",
        "if-range",
        "accept-encoding",
        "keep-alive",
        "trailer",
        "proxy-connection",
    }
)

log = logging.getLogger(__name__)


def validate_source_config(config: Mapping[str, Any]) -> list[Problem]:
    problems = unknown_fields(config, _FIELDS)
    if "url" not in config:
        problems.append(missing("url", "the back end's URL"))
    else:
        problems += _url_problems(config["url"])
    headers = config.get("headers", {})
    if not isinstance(headers, Mapping):
        problems.append(invalid("headers", "headers must be an object of header names to values"))
    else:
        for name, value in headers.items():
            where = f"headers.{name}"
            if not isinstance(name, str) or not name or not set(name) <= _TOKEN_CHARS:
                problems.append(invalid(where, f"{name!r} is not a valid header name"))
            elif name.lower() in _RESERVED_HEADERS:
                problems.append(invalid(where, f"the {name} header is set by the connector, not by an asset"))
            elif name.lower() == "authorization" and "basicAuth" in config:
                problems.append(invalid(where, "Authorization and basicAuth cannot both be given"))
            else:
                problems += check_secret(value, where)
    if "basicAuth" in config:
        problems += _basic_auth_problems(config["basicAuth"])
    timeouts = config.get("timeouts", {})
    if not isinstance(timeouts, Mapping):
        problems.append(invalid("timeouts", "timeouts must be an object with connect, read and/or total seconds"))
    else:
        for key, value in timeouts.items():
            if key not in _TIMEOUT_FIELDS:
                problems.append(Problem("source.config.unknown", f"unknown timeout {key!r}", f"timeouts.{key}"))
            else:
                problems += check_seconds(value, f"timeouts.{key}")
    if "ranges" in config and not isinstance(config["ranges"], bool):
        problems.append(invalid("ranges", "ranges must be true or false"))
    problems += check_media_type(config)
    return problems


def _url_problems(value: Any) -> list[Problem]:
    if not isinstance(value, str) or not value:
        return [invalid("url", "url must be a non-empty string")]
    try:
        url = urlsplit(value)
        _ = url.port  # raises on a port that is not a number in range
    except ValueError:
        return [invalid("url", "url is not a valid URL")]
    if url.scheme not in ("http", "https") or not url.hostname:
        return [invalid("url", "url must be an absolute http or https URL")]
    if url.username is not None or url.password is not None:
        return [invalid("url", "credentials must not be written into the URL; use basicAuth or headers")]
    if url.fragment or "#" in value:
        return [invalid("url", "url must not have a fragment")]
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        return [invalid("url", "url must not contain spaces or control characters")]
    return []


def _basic_auth_problems(value: Any) -> list[Problem]:
    if not isinstance(value, Mapping):
        return [invalid("basicAuth", "basicAuth must be an object with username and password")]
    problems = [
        Problem("source.config.unknown", f"unknown field {k!r}", f"basicAuth.{k}")
        for k in value
        if k not in ("username", "password")
    ]
    for key in ("username", "password"):
        if key not in value:
            problems.append(missing(f"basicAuth.{key}", f"the {key}"))
        else:
            problems += check_secret(value[key], f"basicAuth.{key}")
    username = value.get("username")
    if isinstance(username, str) and ":" in username:
        problems.append(invalid("basicAuth.username", "a basic-auth username cannot contain ':'"))
    return problems


def build_source(config: Mapping[str, Any], context: SourceContext) -> HttpSource:
    problems = validate_source_config(config)
    if problems:
        raise SourceError(problems[0].code, problems[0].reason, problems[0].where)
    if context.http_session is None:
        raise SourceError("source.http.no_session", "the node has no HTTP client session for back ends", None)
    timeouts = config.get("timeouts", {})
    source = HttpSource(
        session=context.http_session,
        url=config["url"],
        headers=dict(config.get("headers", {})),
        basic_auth=config.get("basicAuth"),
        environ=context.environ,
        timeout=aiohttp.ClientTimeout(
            total=timeouts.get("total"),
            connect=timeouts.get("connect", DEFAULT_CONNECT_TIMEOUT),
            sock_read=timeouts.get("read", DEFAULT_READ_TIMEOUT),
        ),
        pass_ranges=config.get("ranges", True),
        media_type=config.get("mediaType"),
    )
    source.request_headers(None)  # a missing secret is a configuration fault: say so now, not at first pull
    return source


@dataclass(frozen=True)
class _Plan:
    """How to turn the upstream response into the requested bytes."""

    skip: int  # bytes to drop first (the back end ignored our range)
    limit: int | None  # bytes to pass at most
    expected: int | None  # bytes that must arrive (to tell a truncated answer from a complete one)


class HttpSource:
    kind = KIND
    seekable = True  # by passing Range through, or by skipping when the back end answers with everything

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        headers: Mapping[str, Any],
        basic_auth: Mapping[str, Any] | None,
        environ: Mapping[str, str],
        timeout: aiohttp.ClientTimeout,
        pass_ranges: bool = True,
        media_type: str | None = None,
    ) -> None:
        self._session = session
        self._url = url
        self._headers = headers
        self._basic_auth = basic_auth
        self._environ = environ
        self._timeout = timeout
        self._pass_ranges = pass_ranges
        self._media_type = media_type

    def __repr__(self) -> str:
        # Never the URL or headers: they may carry internal names or credentials.
        return "HttpSource(<back end>)"

    def request_headers(self, byte_range: ByteRange | None) -> dict[str, str]:
        headers = {"Accept-Encoding": "identity"}
        for name, value in self._headers.items():
            headers[name] = resolve_secret(value, self._environ, f"headers.{name}")
        if self._basic_auth is not None:
            user = resolve_secret(self._basic_auth["username"], self._environ, "basicAuth.username")
            password = resolve_secret(self._basic_auth["password"], self._environ, "basicAuth.password")
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        if byte_range is not None and self._pass_ranges:
            headers["Range"] = format_range_header(byte_range)
        return headers

    async def open(self, byte_range: ByteRange | None = None) -> DataStream:
        if byte_range is not None and byte_range.start == 0 and byte_range.stop is None:
            byte_range = None  # "everything" needs no range, and a plain 200 keeps the back end's own size
        headers = self.request_headers(byte_range)
        try:
            response = await self._session.get(
                self._url, headers=headers, allow_redirects=False, timeout=self._timeout, raise_for_status=False
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _failure(exc) from None
        try:
            info, plan = self._interpret(response, byte_range, "Range" in headers)
        except BaseException:
            response.close()
            raise
        return DataStream(info, _relay(response, plan), _closer(response))

    def _interpret(
        self, response: aiohttp.ClientResponse, wanted: ByteRange | None, asked: bool
    ) -> tuple[StreamInfo, _Plan]:
        status = response.status
        if status == 416 and wanted is not None:
            unsatisfied = (response.headers.get("Content-Range") or "").strip()
            size = unsatisfied[len("bytes */") :] if unsatisfied.startswith("bytes */") else ""
            raise RangeNotSatisfiable(wanted.start, int(size)) if size.isdigit() else _status_error(status)
        if status not in (200, 206):
            raise _status_error(status)
        encoded = response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
        length = None if encoded else response.content_length
        media_type = self._media_type or _upstream_media_type(response)
        if status == 206:
            if not asked or wanted is None or encoded:
                raise _bad_response("a partial answer that was not asked for")
            stated = parse_content_range(response.headers.get("Content-Range"))
            if stated is None:
                raise _bad_response("a partial answer without a usable Content-Range")
            served, total = stated
            wrong_end = wanted.stop is not None and served.stop is not None and served.stop > wanted.stop
            if served.start != wanted.start or wrong_end or (length is not None and length != served.length()):
                raise _bad_response("a partial answer for another range than the one asked for")
            info = StreamInfo(media_type, served.length(), total, served)
            return info, _Plan(skip=0, limit=None, expected=served.length())
        # 200: the whole representation. Serve the wanted part of it by skipping and cutting here.
        if wanted is None:
            return StreamInfo(media_type, length, length), _Plan(skip=0, limit=None, expected=length)
        if length is None:
            # Without the size no valid Content-Range can be stated; the caller falls back to the whole.
            raise unsupported_range("back end (it ignores ranges and states no size)")
        served = wanted.resolve(length)
        info = StreamInfo(media_type, served.length(), length, served)
        return info, _Plan(skip=served.start, limit=served.length(), expected=served.length())


def _upstream_media_type(response: aiohttp.ClientResponse) -> str:
    value = response.headers.get("Content-Type", "")
    return value if is_media_type(value) else "application/octet-stream"


async def _relay(response: aiohttp.ClientResponse, plan: _Plan) -> AsyncIterator[bytes]:
    skip, remaining, passed = plan.skip, plan.limit, 0
    upstream = response.content.iter_chunked(CHUNK_SIZE)
    while remaining is None or remaining > 0:
        try:
            data = await upstream.__anext__()
        except StopAsyncIteration:
            break
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _failure(exc) from None
        if skip:
            if len(data) <= skip:
                skip -= len(data)
                continue
            data, skip = data[skip:], 0
        if remaining is not None:
            if len(data) > remaining:
                data = data[:remaining]
            remaining -= len(data)
        passed += len(data)
        yield data
    if plan.expected is not None and passed != plan.expected:
        raise SourceError(
            "source.http.truncated",
            f"the back end's answer ended after {passed} of {plan.expected} bytes",
            None,
        )
    response.release()


def _closer(response: aiohttp.ClientResponse) -> Any:
    async def close() -> None:
        # Closing (not releasing) drops a half-read connection instead of returning it to the pool.
        if not response.closed:
            response.close()

    return close


def _status_error(status: int) -> SourceError:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "unknown status"
    if status in (404, 410):
        return SourceError(
            "source.http.not_found",
            f"the back end has no such data ({status} {phrase})",
            None,
            upstream_status=status,
        )
    if 300 <= status < 400:
        return SourceError(
            "source.http.redirect",
            f"the back end answered with a redirect ({status} {phrase}), which is not followed",
            None,
            upstream_status=status,
        )
    # The upstream body is never read: it may echo internal details or the credentials themselves.
    return SourceError("source.http.status", f"the back end answered {status} {phrase}", None, upstream_status=status)


def _bad_response(what: str) -> SourceError:
    return SourceError("source.http.bad_response", f"the back end sent {what}", None)


def _failure(exc: BaseException) -> SourceError:
    log.warning("HTTP back end failed: %r", exc)
    if isinstance(exc, asyncio.TimeoutError):
        return SourceError("source.http.timeout", "the back end did not answer in time", None)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return SourceError("source.http.truncated", "the back end's answer broke off", None)
    return SourceError("source.http.unreachable", f"the back end could not be reached ({type(exc).__name__})", None)
