"""The console's way to the node: the management API, on the node's own management listener.

Going through the API rather than around it means the console shows what the API answers (its refusals, its
validation errors with the field they name) and can do nothing an API client could not. The listener is reached
on its bound address; when it serves HTTPS, the connection is pinned to the node's own management certificate.
Each call carries the console request's id, so that the access log ties the two together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from connector import keys
from connector.config import Listen
from connector.errors import ConnectorError
from connector.log import request_id

TIMEOUT = 60.0


class ApiProblem(ConnectorError):
    """The management API answered with a problem (RFC 9457): its status, code, detail and field."""

    def __init__(self, status: int, code: str, reason: str, where: str | None = None) -> None:
        super().__init__(code, reason, where)
        self.status = status


def local_base(listen: Listen, port: int, tls: bool) -> str:
    """The URL of a listener bound to `listen` (on `port`), as seen from the same machine."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(listen.host, listen.host)
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"


def path(*parts: str, **query: Any) -> str:
    """An API path from literal parts and ids (quoted), with the query parameters that are not None."""
    out = "/".join(p if i == 0 else quote(p, safe="") for i, p in enumerate(parts))
    given = {k: v for k, v in query.items() if v is not None and v != ""}
    return out + ("?" + urlencode(given) if given else "")


class NodeApi:
    def __init__(self, api_key: str, base: Callable[[], str], tls_cert: Path | None = None) -> None:
        self._key = api_key
        self._base = base
        self._ssl: aiohttp.Fingerprint | bool = True
        if tls_cert is not None:
            self._ssl = aiohttp.Fingerprint(bytes.fromhex(keys.cert_sha256(keys.load_certificate(tls_cert))))
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        return self._session

    async def call(
        self, method: str, api_path: str, body: Any = None, timeout: float = TIMEOUT, accept: tuple[int, ...] = ()
    ) -> Any:
        """The API's JSON answer, or ApiProblem (unless the status is one of `accept`: the health probe answers
        503 with a body); an API that cannot be reached is a 503 problem."""
        headers = {"X-Api-Key": self._key}
        rid = request_id.get()
        if rid:
            headers["X-Request-Id"] = rid  # the console request's id, to tie the two in the access log
        try:
            async with self._client().request(
                method,
                self._base() + api_path,
                json=body,
                headers=headers,
                ssl=self._ssl,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as resp:
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiProblem(503, "console.api_unreachable", f"the management API did not answer: {exc}") from None
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        if resp.status >= 400 and resp.status not in accept:
            problem: Mapping[str, Any] = data if isinstance(data, dict) else {}
            raise ApiProblem(
                resp.status,
                str(problem.get("code") or f"http.{resp.status}"),
                str(problem.get("detail") or text[:300] or f"HTTP {resp.status}"),
                problem.get("where") if isinstance(problem.get("where"), str) else None,
            )
        return data

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
