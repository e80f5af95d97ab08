"""Pages as the browser gets them: templates rendered with the request's context, and the headers every console
answer carries (no caching, no framing, scripts and styles from the console itself only)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from connector import __version__

if TYPE_CHECKING:
    import jinja2

# Scripts, styles and images come from the console only; forms post to it only; no page may be framed.
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# Swagger UI styles some elements inline.
DOCS_POLICY = POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")

CONTEXT = web.RequestKey("console_context", dict)  # what every page shows: the node, the form token, a notice


def secure_headers(response: web.StreamResponse, policy: str = POLICY) -> web.StreamResponse:
    response.headers.setdefault("Content-Security-Policy", policy)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def see_other(location: str) -> web.Response:
    """Where to go next after a form (POST, redirect, GET), or to sign in."""
    return web.Response(status=303, headers={"Location": location})


def _moment(value: Any) -> datetime | None:
    """An API timestamp (ISO 8601), or None when there is none or it does not read as one."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _when(value: Any) -> str:
    """An API timestamp as a person reads it: date and time to the second, in UTC."""
    moment = _moment(value)
    if moment is None:
        return str(value) if value else "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _until(value: Any) -> str:
    """How long until an API timestamp (or how long ago), in the largest sensible unit."""
    moment = _moment(value)
    if moment is None:
        return str(value) if value else "no end"
    seconds = (moment - datetime.now(UTC)).total_seconds()
    span = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if span >= size:
            count = int(span // size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            break
    else:
        text = f"{int(span)} seconds"
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def _days_left(value: Any) -> float | None:
    moment = _moment(value)
    return None if moment is None else (moment - datetime.now(UTC)).total_seconds() / 86400


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def _short(value: Any, width: int = 18) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _q(value: Any) -> str:
    """A value as one segment of a console path."""
    return quote(str(value), safe="")


class Templates:
    def __init__(self) -> None:
        self._env: jinja2.Environment | None = None

    @property
    def env(self) -> jinja2.Environment:
        """The template engine, loaded with the first page shown (a node whose console nobody opens never needs
        it)."""
        if self._env is None:
            import jinja2

            from connector.console import explain

            env = jinja2.Environment(
                loader=jinja2.PackageLoader("connector.console", "templates"),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.filters.update(when=_when, until=_until, days_left=_days_left, pretty=_pretty, short=_short, q=_q)
            env.filters["facts"] = explain.subject_facts
            env.globals["version"] = __version__
            self._env = env
        return self._env

    def render(
        self,
        request: web.Request,
        name: str,
        context: Mapping[str, Any],
        status: int = 200,
        policy: str = POLICY,
    ) -> web.Response:
        shared = request.get(CONTEXT, {})
        text = self.env.get_template(name).render({**shared, **context, "path": request.path})
        response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
        secure_headers(response, policy)
        return response
