"""What every group of console pages is built with: the API, the gate, the templates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from multidict import MultiDictProxy

from connector.console.api import ApiProblem, NodeApi
from connector.console.auth import FORM, Gate
from connector.console.rendering import Templates

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]  # method, path below /console, handler


class Part(Protocol):
    """A group of console pages."""

    def routes(self) -> list[Route]: ...


@dataclass(frozen=True)
class Kit:
    api: NodeApi
    gate: Gate
    templates: Templates

    def render(self, request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
        return self.templates.render(request, name, context, status=status)

    def tell(self, request: web.Request, notice: str) -> None:
        self.gate.tell(request, notice)

    @staticmethod
    def form(request: web.Request) -> MultiDictProxy[Any]:
        return request[FORM]

    @staticmethod
    def text(request: web.Request, name: str) -> str:
        value = request[FORM].get(name)
        return value.strip() if isinstance(value, str) else ""

    async def maybe(self, method: str, path: str) -> tuple[Any, ApiProblem | None]:
        """(the API's answer, None), or (None, its problem): for parts of a page that may be missing."""
        try:
            return await self.api.call(method, path), None
        except ApiProblem as problem:
            return None, problem
