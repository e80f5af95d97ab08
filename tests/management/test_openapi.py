"""The management API's OpenAPI 3.1 document describes exactly the routes the node serves."""

import re

from nodekit import Management, make_participant, running_node, write_config


def _normalise(path: str) -> str:
    # aiohttp spells variables {id} or {action:terminate|accept}; OpenAPI spells them {id}, {action}
    return re.sub(r"\{([A-Za-z_]+)(:[^}]*)?\}", r"{\1}", path)


async def test_every_served_route_is_documented_and_every_documented_route_is_served(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    async with running_node(write_config(p, tmp_path)) as node:
        doc = await Management(p).call("GET", "/v1/openapi.json", None, 200)
        app = node.listeners["management"].runner.app
        routes = [r for r in app.router.routes() if r.method != "HEAD" and r.resource is not None]
        # The web console's pages share the listener but are no part of the API (they sign in with a session).
        console = {_normalise(r.resource.canonical) for r in routes if getattr(r.handler, "authenticates_itself", 0)}
        served = {
            (_normalise(r.resource.canonical), r.method.lower())
            for r in routes
            if not getattr(r.handler, "authenticates_itself", False)
        }
    assert "/console/login" in console and all(p == "/" or p.startswith("/console") for p in console), console
    assert not console & set(doc["paths"]), "console pages in the API document"
    assert doc["openapi"] == "3.1.0" and len(served) > 25, served
    documented = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    }
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op.get("responses"), f"{method} {path} has no responses"
            for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', str(op).replace("'", '"')):
                assert ref in doc["components"]["schemas"], ref
