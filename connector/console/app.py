"""The console's routes, for the management listener: every page behind the gate, and how a node makes them.

`/` and `/console` lead to the node page; the sign-in page and the static files are open; everything else needs
a signed-in session (and a POST its form token).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from aiohttp import web

from connector.config import Config
from connector.console import static_files
from connector.console.api import ApiProblem, NodeApi, local_base
from connector.console.auth import HOME, PREFIX, Gate
from connector.console.definitions import Definitions
from connector.console.evidence import Evidence
from connector.console.fetching import Fetches, Spawn
from connector.console.kit import Handler, Kit, Part
from connector.console.material import OwnMaterial
from connector.console.overview import Overview
from connector.console.peers import Peers
from connector.console.processes import Processes
from connector.console.rendering import DOCS_POLICY, Templates, see_other
from connector.console.sessions import Sessions
from connector.errors import ConnectorError
from connector.pull.identity import pull_identity
from connector.web.openapi import RouteGroup
from connector.web.problems import status_for

DOWNLOADS = Path("console") / "downloads"  # below node.data_dir


class Console:
    def __init__(self, config: Config, api: NodeApi, fetches: Fetches) -> None:
        self.templates = Templates()
        self.sessions = Sessions(config.management.console_session_timeout)
        self.gate = Gate(self.sessions, config.management_api_key(), self.templates, config.node.participant_id)
        self.api = api
        self.kit = Kit(api, self.gate, self.templates)
        self.pages: list[Part] = [
            Overview(self.kit, OwnMaterial(config), config.node.name),
            Peers(self.kit, config.peers, fetches),
            Processes(self.kit),
            Definitions(self.kit),
            Evidence(self.kit),
        ]

    def _shown(self, handler: Handler) -> Handler:
        """A page whose API call failed says what the API answered, instead of failing."""

        async def page(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except ApiProblem as problem:
                status = problem.status if 400 <= problem.status < 500 else 502
                return self.templates.render(request, "problem.html", {"problem": problem}, status=status)
            except ConnectorError as error:
                said = ApiProblem(status_for(error.code), error.code, error.reason, error.where)
                return self.templates.render(request, "problem.html", {"problem": said}, status=said.status)

        return page

    async def api_docs(self, request: web.Request) -> web.StreamResponse:
        return self.templates.render(request, "api_docs.html", {}, policy=DOCS_POLICY)

    async def no_page(self, request: web.Request) -> web.StreamResponse:
        return self.templates.render(request, "no_page.html", {}, status=404)

    @staticmethod
    async def home(request: web.Request) -> web.StreamResponse:
        return see_other(HOME)

    def group(self) -> RouteGroup:
        gate = self.gate
        routes = [
            web.get("/", gate.public(self.home)),
            web.get(PREFIX, gate.public(self.home)),
            web.get(PREFIX + "/login", gate.public(gate.login_form)),
            web.post(PREFIX + "/login", gate.public(gate.login)),
            web.post(PREFIX + "/logout", gate.signed_in(gate.logout)),
            web.get(PREFIX + "/api", gate.signed_in(self.api_docs)),
        ]
        routes += [web.route(m, PREFIX + p, gate.public(h)) for m, p, h in static_files.routes()]
        for part in self.pages:
            routes += [web.route(m, PREFIX + p, gate.signed_in(self._shown(h))) for m, p, h in part.routes()]
        # Last: any other address under the console is a console page that does not exist (not an API route
        # asking for its key).
        routes.append(web.route("*", PREFIX + "/{tail:.*}", gate.signed_in(self.no_page)))
        return RouteGroup(routes)

    async def close(self) -> None:
        await self.api.close()


def console_for(config: Config, management_port: Callable[[], int], spawn: Spawn) -> Console:
    """The console of a node with this configuration, whose management listener is bound to `management_port()`."""
    m = config.management
    tls = m.tls_cert is not None and m.tls_key is not None
    api = NodeApi(
        config.management_api_key(), lambda: local_base(m.listen, management_port(), tls), m.tls_cert if tls else None
    )
    fetches = Fetches(api, partial(pull_identity, config), config.node.data_dir / DOWNLOADS, spawn)
    return Console(config, api, fetches)
