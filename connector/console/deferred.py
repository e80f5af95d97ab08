"""The console as a node starts it: made on the first request for one of its pages, so that a node whose
operator never opens the console does not load its modules (templates, pages, the fetching of downloads)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from connector.config import Config
from connector.web.deferred import DeferredRoutes
from connector.web.openapi import RouteGroup

if TYPE_CHECKING:
    from connector.console.app import Console
    from connector.console.fetching import Spawn

PREFIX = "/console"  # every console page is below it, and `/` leads to it


class DeferredConsole:
    """The console of a node with this configuration (`console_for`), made when first asked for."""

    def __init__(self, config: Config, management_port: Callable[[], int], spawn: Spawn) -> None:
        self._config = config
        self._management_port = management_port
        self._spawn = spawn
        self.console: Console | None = None

    def _routes(self) -> Sequence[web.AbstractRouteDef]:
        if self.console is None:
            from connector.console.app import console_for

            self.console = console_for(self._config, self._management_port, self._spawn)
        return self.console.group().routes

    def group(self) -> RouteGroup:
        return RouteGroup([DeferredRoutes(PREFIX, ["/"], self._routes)])

    async def close(self) -> None:
        if self.console is not None:
            await self.console.close()
