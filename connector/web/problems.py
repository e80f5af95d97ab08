"""RFC 9457 problem details for every management API error.

Status codes follow the error code's last segment (`*.not_found` -> 404, `*.conflict` -> 409, ...), so that
errors raised deep in the control plane reach the client with the right status and their original reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from connector.errors import ConnectorError, Problem

log = logging.getLogger("connector.management")
PROBLEM_TYPE_BASE = "https://connector.invalid/problems/"

_SUFFIX_STATUS = {
    "not_found": 404,
    "conflict": 409,
    "invalid_state": 409,
    "unavailable": 503,
    "forbidden": 403,
    "timeout": 504,
    "peer_error": 502,
    "unreachable": 502,
    "too_large": 413,
    "busy": 503,
    "archived": 410,  # moved out of the live store
}
_CODE_STATUS = {
    "request.timeout": 408,
    "peer.not_tls": 502,  # what answered at a peer's address is not a DSP endpoint
    "duty.no_onward_transfer": 409,
    "evidence.archive_conflict": 409,  # its file's name is taken by an archive of another history of the log
    "evidence.archive_unwritable": 503,  # the node's own folder: nothing wrong with the request, try again later
}
CLOSING = frozenset({"request.too_large", "request.timeout"})  # the body was not read in full


def status_for(code: str) -> int:
    return _CODE_STATUS.get(code) or _SUFFIX_STATUS.get(code.rsplit(".", 1)[-1], 400)


def problem_response(
    status: int, code: str, title: str, detail: str, where: str | None = None, **extensions: Any
) -> web.Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if where:
        body["where"] = where
    body.update(extensions)
    return web.Response(status=status, text=json.dumps(body), content_type="application/problem+json")


def from_problem(problem: Problem, status: int | None = None) -> web.Response:
    status = status or status_for(problem.code)
    extra = {"details": problem.details} if problem.details else {}
    response = problem_response(status, problem.code, _title(status), problem.reason, problem.where, **extra)
    if problem.code in CLOSING:
        response.force_close()
    return response


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@web.middleware
async def problem_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ConnectorError as exc:
        return from_problem(exc.problem)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(
            exc.status,
            f"http.{exc.status}",
            exc.reason,
            exc.text
            if exc.text and not exc.text.startswith(str(exc.status))
            else f"{request.method} {request.path}: {exc.reason.lower()}",
        )
    except Exception:
        log.exception("unhandled error in management API")
        return problem_response(
            500,
            "internal",
            "Internal Server Error",
            "the node failed unexpectedly; the log has the details under this request id",
        )
