"""The management API's OpenAPI 3.1 document describes exactly the routes the node serves."""

import re

from nodekit import Management, get, make_participant, running_node, write_config


def _normalise(path: str) -> str:
    # aiohttp spells variables {id} or {action:terminate|accept}; OpenAPI spells them {id}, {action}
    return re.sub(r"\{([A-Za-z_]+)(:[^}]*)?\}", r"{\1}", path)


async def test_every_served_route_is_documented_and_every_documented_route_is_served(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    async with running_node(write_config(p, tmp_path)) as node:
        doc = await Management(p).call("GET", "/v1/openapi.json", None, 200)
        # The console is made with the first request for one of its pages; its routes are listed from then on.
        status, _ = await get(f"http://127.0.0.1:{p.management_port}/console/login")
        assert status == 200
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


VERBS = {
    "Get",
    "List",
    "Create",
    "Replace",
    "Delete",
    "Start",
    "Request",
    "Ask",
    "Tell",
    "Report",
    "Write",
    "Verify",
    "Export",
    "Terminate",
    "Suspend",
}


async def test_every_operation_has_a_unique_operation_id_and_a_summary_in_plain_english(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    async with running_node(write_config(p, tmp_path)):
        doc = await Management(p).call("GET", "/v1/openapi.json", None, 200)
    operations = [
        (f"{method.upper()} {path}", op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "delete", "patch")
    ]
    ids = [op.get("operationId") for _, op in operations]
    missing = [name for name, op in operations if not op.get("operationId")]
    assert missing == [], missing
    assert len(set(ids)) == len(ids), sorted(i for i in ids if ids.count(i) > 1)
    assert all(re.fullmatch(r"[a-z][A-Za-z]+", i) for i in ids), ids
    for name, op in operations:
        summary = op["summary"]
        assert summary.split()[0].rstrip(",") in VERBS, (name, summary)  # an imperative, as its title
        assert not re.search(r"\ba [aeiou]|policys|\bone (asset|policy|offer|agreement)\b", summary), (name, summary)
    by_id = {op["operationId"]: op["summary"] for _, op in operations}
    assert by_id["createAsset"] == "Create an asset"
    assert by_id["listPolicies"] == "List policies"
    assert by_id["getPolicy"] == "Get a policy"
    assert by_id["deleteOffer"] == "Delete an offer"
    assert by_id["actOnTransfer"] == "Suspend, resume, complete or terminate a transfer"


def test_every_field_of_every_source_kind_is_described():
    from connector.management.openapi import SCHEMAS
    from connector.sources import file, http, sql

    for kind, module, schema in (("file", file, "FileSource"), ("http", http, "HttpSource"), ("sql", sql, "SqlSource")):
        described = SCHEMAS[schema]["properties"]
        assert set(described) == set(module._FIELDS), (kind, set(described) ^ set(module._FIELDS))
        assert described["type"] == {"const": kind}
        for field, spec in described.items():
            assert field == "type" or spec.get("description"), (kind, field)
        assert SCHEMAS[schema]["additionalProperties"] is False
        assert SCHEMAS[schema]["description"]
    source = SCHEMAS["Asset"]["properties"]["source"]
    assert [s["$ref"].rsplit("/", 1)[-1] for s in source["oneOf"]] == ["FileSource", "HttpSource", "SqlSource"]
    timeouts = SCHEMAS["HttpSource"]["properties"]["timeouts"]["properties"]
    assert set(timeouts) == set(http._TIMEOUT_FIELDS)


async def test_an_asset_written_as_its_source_schema_says_is_accepted(authority, tmp_path):
    """The documented shapes are the accepted ones: an example of each kind, with every field, is created."""
    p = make_participant(authority, tmp_path, "org-a")
    sources = [
        {"type": "file", "path": "reports/2024.csv", "root": "default", "mediaType": "text/csv"},
        {
            "type": "http",
            "url": "https://backend.internal/export.csv",
            "headers": {"Authorization": {"env": "BACKEND_TOKEN", "prefix": "Bearer "}, "X-Tenant": "org-a"},
            "timeouts": {"connect": 10, "read": 60, "total": 3600},
            "ranges": False,
            "mediaType": "text/csv",
        },
        {
            "type": "sql",
            "database": "warehouse.sqlite",
            "root": "default",
            "query": "SELECT * FROM sales WHERE region = :region",
            "parameters": {"region": "EU"},
            "format": "jsonl",
            "mediaType": "application/x-ndjson",
            "timeout": 30,
        },
    ]
    data = f'\n[data]\nroot = "{tmp_path / "data"}"\n'  # the file and SQL examples are read below it
    async with running_node(write_config(p, tmp_path, extra=data)):
        m = Management(p)
        for i, source in enumerate(sources):
            await m.call("POST", "/v1/assets", {"id": f"a{i}", "source": source}, 201)
