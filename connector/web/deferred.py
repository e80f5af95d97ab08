"""Routes made on their first request: a part of an application whose modules and state are only loaded when a
request first reaches one of its paths (the console, on a node whose operator may never open it).

`DeferredRoutes` goes into `app.add_routes` like any route table. It claims some exact paths and everything
below one prefix; the first request for one of those makes the real routes (`make`) and from then on each
request resolves against them, so that the application sees the real route (its handler, its canonical path),
exactly as if the routes had been added at start. A request for any other path never makes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractRouter
from aiohttp.web_urldispatcher import AbstractResource, AbstractRoute, UrlDispatcher, _InfoDict
from yarl import URL


class DeferredRoutes(web.AbstractRouteDef):
    """Routes under `prefix` (and at the exact `paths`) whose table `make` builds on the first request for one of
    them."""

    def __init__(self, prefix: str, paths: Sequence[str], make: Callable[[], Sequence[web.AbstractRouteDef]]) -> None:
        self.prefix = prefix.rstrip("/")
        self.paths = tuple(paths)
        self._make = make
        self._resources: list[AbstractResource] | None = None

    @property
    def made(self) -> bool:
        return self._resources is not None

    def resources(self) -> list[AbstractResource]:
        """The real routes' resources (made now if not yet)."""
        if self._resources is None:
            router = UrlDispatcher()
            for route in self._make():
                route.register(router)
            self._resources = list(router.resources())
        return self._resources

    def below(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    def register(self, router: AbstractRouter) -> list[AbstractRoute]:
        assert isinstance(router, UrlDispatcher)
        # One resource at the prefix (where the router looks for every path below it) and one for each exact path
        # outside it (where the router looks for that path, and for others it resolves nothing).
        router.register_resource(_Deferred(self, self.prefix, self.below))
        for path in self.paths:
            if not self.below(path):
                router.register_resource(_Deferred(self, path, path.__eq__))
        return []


class _Deferred(AbstractResource):
    """Where the application's router finds the deferred routes: it resolves a claimed path against them."""

    def __init__(self, routes: DeferredRoutes, canonical: str, claims: Callable[[str], bool]) -> None:
        super().__init__()
        self._routes = routes
        self._canonical = canonical
        self._claims = claims

    @property
    def canonical(self) -> str:
        return self._canonical

    async def resolve(self, request: web.Request) -> tuple[Any, set[str]]:
        if not self._claims(request.rel_url.path_safe):
            return None, set()
        allowed: set[str] = set()
        for resource in self._routes.resources():
            match, methods = await resource.resolve(request)
            if match is not None:
                return match, methods
            allowed |= methods
        return None, allowed

    def url_for(self, **kwargs: str) -> URL:
        raise NotImplementedError("deferred routes are not named")

    def add_prefix(self, prefix: str) -> None:
        raise NotImplementedError("deferred routes belong to the application they were added to")

    def get_info(self) -> _InfoDict:
        return {"prefix": self._routes.prefix}

    def raw_match(self, path: str) -> bool:
        return False

    def __len__(self) -> int:
        return sum(len(r) for r in self._routes.resources()) if self._routes.made else 0

    def __iter__(self) -> Iterator[AbstractRoute]:
        if not self._routes.made:
            return iter(())
        return (route for resource in self._routes.resources() for route in resource)
