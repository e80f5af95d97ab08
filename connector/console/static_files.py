"""The console's own files (its style sheet and scripts) and the vendored Swagger UI, served from the package.

Only the files listed here are served; they change only with the package, so browsers may keep them for an hour
(revalidated by ETag afterwards).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from connector.console.kit import Route

ROOT = Path(__file__).parent / "static"
SWAGGER_UI_VERSION = "5.36.0"
SERVED = {
    "console.css": "text/css",
    "console.js": "text/javascript",
    "api-docs.js": "text/javascript",
    "vendor/swagger-ui/swagger-ui-bundle.js": "text/javascript",
    "vendor/swagger-ui/swagger-ui.css": "text/css",
    "vendor/swagger-ui/LICENSE": "text/plain",
    "vendor/swagger-ui/NOTICE": "text/plain",
    "vendor/swagger-ui/swagger-ui-bundle.js.LICENSE.txt": "text/plain",
}


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    kind = SERVED.get(name)
    if kind is None:
        return web.Response(status=404, text="no such file")
    return web.FileResponse(
        ROOT / name, headers={"Content-Type": f"{kind}; charset=utf-8", "Cache-Control": "max-age=3600"}
    )


def routes() -> list[Route]:
    return [("GET", "/static/{name:.+}", static_file)]
