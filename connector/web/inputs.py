"""Reading management API input: JSON bodies, fields and pagination, each error naming the offending field."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from connector.config import LimitsSection
from connector.errors import ConnectorError
from connector.web.bodies import read_json

MAX_PAGE = 500
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:~@\-/]{0,199}$")
# The limits of the listener the request came to (bodies are read within them).
LIMITS = web.AppKey("limits", LimitsSection)
_DEFAULT_LIMITS = LimitsSection()


async def body_object(request: web.Request) -> dict[str, Any]:
    limits = request.app.get(LIMITS, _DEFAULT_LIMITS)
    body = await read_json(request, limits.max_message_bytes, limits.body_timeout)
    if not isinstance(body, dict):
        raise ConnectorError("request.invalid", "the body must be a JSON object", "$")
    return body


def string(body: Mapping[str, Any], key: str, required: bool = True, default: str | None = None) -> str | None:
    value = body.get(key, default)
    if value is None:
        if required:
            raise ConnectorError("request.missing", f"'{key}' is required", key)
        return None
    if not isinstance(value, str) or (required and not value):
        raise ConnectorError("request.invalid", f"'{key}' must be a non-empty string", key)
    return value


def identifier(body: Mapping[str, Any], key: str = "id") -> str:
    value = string(body, key)
    assert value is not None
    if not _ID.match(value):
        raise ConnectorError(
            "request.invalid",
            f"'{key}' must be 1-200 characters of letters, digits and ._:~@-/ starting with a letter or digit",
            key,
        )
    return value


def string_list(body: Mapping[str, Any], key: str, default: Sequence[str] = ()) -> tuple[str, ...]:
    value = body.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConnectorError("request.invalid", f"'{key}' must be a list of non-empty strings", key)
    return tuple(value)


def obj(body: Mapping[str, Any], key: str, required: bool = True) -> dict[str, Any] | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ConnectorError("request.missing", f"'{key}' is required", key)
        return None
    if not isinstance(value, dict):
        raise ConnectorError("request.invalid", f"'{key}' must be a JSON object", key)
    return value


def unknown_keys(body: Mapping[str, Any], allowed: Sequence[str]) -> None:
    extra = sorted(set(body) - set(allowed))
    if extra:
        raise ConnectorError(
            "request.unknown_field", f"unknown field '{extra[0]}' (allowed: {', '.join(allowed)})", extra[0]
        )


def choice(query: Mapping[str, str], key: str, allowed: Sequence[str]) -> str | None:
    """A query parameter that takes one of `allowed` (spelled exactly so); absent or empty: None."""
    value = query.get(key) or None
    if value is not None and value not in allowed:
        raise ConnectorError("request.invalid", f"'{key}' must be one of {', '.join(allowed)}", key)
    return value


@dataclass(frozen=True)
class PageRequest:
    limit: int
    offset: int

    def response(self, request: web.Request, items: list[Any], total: int) -> web.Response:
        body: dict[str, Any] = {"items": items, "total": total, "limit": self.limit, "offset": self.offset}
        headers = {}
        if self.offset + self.limit < total:
            nxt = request.url.update_query(offset=str(self.offset + self.limit), limit=str(self.limit))
            body["next"] = str(nxt.relative())
            headers["Link"] = f'<{nxt.relative()}>; rel="next"'
        return web.json_response(body, headers=headers)


def page(request: web.Request, default_limit: int = 50) -> PageRequest:
    def number(key: str, default: int, low: int, high: int) -> int:
        raw = request.query.get(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConnectorError("request.invalid", f"'{key}' must be an integer", key) from None
        if not low <= value <= high:
            raise ConnectorError("request.invalid", f"'{key}' must be between {low} and {high}", key)
        return value

    return PageRequest(number("limit", default_limit, 1, MAX_PAGE), number("offset", 0, 0, 10**9))
