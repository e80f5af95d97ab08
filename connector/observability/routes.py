"""`GET /metrics` on the management listener: the node's metrics in the Prometheus text format.

Behind the management API key like every other route, unless `management.metrics_public` opens it to a scraper
that cannot send headers (then keep the management listener on a private network).
"""

from __future__ import annotations

from aiohttp import web

from connector.observability.gauges import Gauges
from connector.observability.metrics import NodeMetrics
from connector.web.middleware import Handler, open_route
from connector.web.openapi import ApiSection, RouteGroup

PATH = "/metrics"


class MetricsRoutes:
    def __init__(self, metrics: NodeMetrics, gauges: Gauges) -> None:
        self.metrics = metrics
        self.gauges = gauges
        metrics.also(gauges)

    async def scrape(self, request: web.Request) -> web.Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # loaded with the first scrape

        await self.gauges.refresh()
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def group(self, public: bool) -> RouteGroup:
        handler: Handler = self.scrape
        if public:

            async def open_scrape(request: web.Request) -> web.Response:
                return await self.scrape(request)

            handler = open_route(open_scrape)
        operation = {
            "tags": ["meta"],
            "operationId": "getMetrics",
            "summary": "Get the node's metrics (Prometheus text format)",
            "responses": {
                "200": {
                    "description": "Every series of the node; see the README's Metrics section",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": {"description": "Missing or wrong API key (unless management.metrics_public)"},
            },
        }
        if public:
            operation["security"] = []
        return RouteGroup([web.get(PATH, handler)], ApiSection({PATH: {"get": operation}}))
