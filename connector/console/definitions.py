"""Assets, policies and offers: list, create, edit, delete, through the management API.

A form becomes the API's JSON; the API validates it, and its answer's `where` (the offending field, such as
`source.path` or `policy.permission[0].constraint[0]`) puts the error next to the form field it belongs to.
Whatever the API refuses (a configured item it keeps read-only, an offer still in use) is shown as it says it.
An offer cannot be replaced through the API: editing one deletes it and creates it again (and puts the old one
back if the new one is refused).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from connector.console import explain
from connector.console.api import ApiProblem, path
from connector.console.kit import Kit, Route
from connector.console.rendering import see_other

FORMATS = ("HttpData-PULL", "HttpData-PUSH")


class FieldError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Kind:
    name: str  # singular, as the pages say it
    plural: str  # the API collection and the console path
    fields: tuple[str, ...]  # form fields, in order
    to_json: Callable[[Mapping[str, Any]], dict[str, Any]]
    to_form: Callable[[Mapping[str, Any]], dict[str, Any]]
    replaceable: bool = True


def _json_object(form: Mapping[str, Any], name: str, required: bool) -> dict[str, Any] | None:
    text = str(form.get(name) or "").strip()
    if not text:
        if required:
            raise FieldError(name, "Write a JSON object here.")
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise FieldError(name, f"This is not valid JSON: {exc}") from None
    except RecursionError:  # the parser's own bound, before it runs out of stack
        raise FieldError(name, "This nests arrays and objects too deeply to be read.") from None
    if not isinstance(value, dict):
        raise FieldError(name, "This must be a JSON object ({ ... }).")
    return value


def _words(text: Any) -> list[str]:
    return [w.strip() for w in str(text or "").split(",") if w.strip()]


def asset_json(form: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": form.get("id", ""),
        "title": form.get("title", ""),
        "description": form.get("description", ""),
        "keywords": _words(form.get("keywords")),
        "mediaType": form.get("mediaType") or "application/octet-stream",
        "formats": list(form.get("formats") or []),
        "source": _json_object(form, "source", required=True),
    }
    properties = _json_object(form, "properties", required=False)
    if properties is not None:
        body["properties"] = properties
    return body


def asset_form(asset: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": asset.get("id", ""),
        "title": asset.get("title", ""),
        "description": asset.get("description", ""),
        "keywords": ", ".join(asset.get("keywords") or []),
        "mediaType": asset.get("mediaType", ""),
        "formats": list(asset.get("formats") or []),
        "source": json.dumps(asset.get("source") or {}, indent=2),
        "properties": json.dumps(asset["properties"], indent=2) if asset.get("properties") else "",
    }


def policy_json(form: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": form.get("id", ""),
        "description": form.get("description", ""),
        "policy": _json_object(form, "policy", required=True),
    }


def policy_form(policy: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": policy.get("id", ""),
        "description": policy.get("description", ""),
        "policy": json.dumps(policy.get("policy") or {}, indent=2),
    }


def offer_json(form: Mapping[str, Any]) -> dict[str, Any]:
    body = {k: form.get(k, "") for k in ("id", "assetId", "contractPolicyId")}
    if form.get("accessPolicyId"):
        body["accessPolicyId"] = form["accessPolicyId"]
    return body


def offer_form(offer: Mapping[str, Any]) -> dict[str, Any]:
    return {k: offer.get(k) or "" for k in ("id", "assetId", "contractPolicyId", "accessPolicyId")}


KINDS = {
    "assets": Kind(
        "asset",
        "assets",
        ("id", "title", "description", "keywords", "mediaType", "formats", "source", "properties"),
        asset_json,
        asset_form,
    ),
    "policies": Kind("policy", "policies", ("id", "description", "policy"), policy_json, policy_form),
    "offers": Kind(
        "offer",
        "offers",
        ("id", "assetId", "contractPolicyId", "accessPolicyId"),
        offer_json,
        offer_form,
        replaceable=False,
    ),
}


def field_of(where: str | None, fields: tuple[str, ...]) -> str | None:
    """The form field an API problem's `where` points into (`source.path` -> source), if any."""
    if not where:
        return None
    head = re.split(r"[.\[]", where, maxsplit=1)[0]
    return head if head in fields else None


def _form_values(kind: Kind, request: web.Request, kit: Kit) -> dict[str, Any]:
    form = kit.form(request)
    values: dict[str, Any] = {f: kit.text(request, f) for f in kind.fields if f != "formats"}
    if "formats" in kind.fields:
        values["formats"] = [v for v in form.getall("formats", []) if isinstance(v, str)]
    return values


class Definitions:
    def __init__(self, kit: Kit) -> None:
        self.kit = kit

    def routes(self) -> list[Route]:
        kinds = "{kind:assets|policies|offers}"
        return [
            ("GET", f"/{kinds}", self.listing),
            ("GET", f"/{kinds}/new", self.new),
            ("POST", f"/{kinds}/new", self.create),
            ("GET", f"/{kinds}/{{id}}", self.edit),
            ("POST", f"/{kinds}/{{id}}", self.save),
            ("POST", f"/{kinds}/{{id}}/delete", self.delete),
        ]

    @staticmethod
    def _kind(request: web.Request) -> Kind:
        return KINDS[request.match_info["kind"]]

    async def listing(self, request: web.Request) -> web.StreamResponse:
        kind = self._kind(request)
        page = await self.kit.api.call("GET", path(f"/v1/{kind.plural}", limit=500))
        return self.kit.render(
            request,
            "definitions.html",
            kind=kind,
            items=page.get("items", []),
            total=page.get("total", 0),
            explain=explain,
        )

    async def _choices(self) -> dict[str, list[str]]:
        """The ids an offer may name."""
        assets, _ = await self.kit.maybe("GET", path("/v1/assets", limit=500))
        policies, _ = await self.kit.maybe("GET", path("/v1/policies", limit=500))
        return {
            "assets": [a["id"] for a in (assets or {}).get("items", [])],
            "policies": [p["id"] for p in (policies or {}).get("items", [])],
        }

    async def _form_page(
        self,
        request: web.Request,
        kind: Kind,
        values: Mapping[str, Any],
        existing: str | None,
        errors: Mapping[str, str] | None = None,
        problem: str | None = None,
        status: int = 200,
    ) -> web.StreamResponse:
        return self.kit.render(
            request,
            "definition_form.html",
            status=status,
            kind=kind,
            values=values,
            existing=existing,
            errors=errors or {},
            problem=problem,
            formats=FORMATS,
            choices=await self._choices() if kind.plural == "offers" else {},
        )

    async def new(self, request: web.Request) -> web.StreamResponse:
        kind = self._kind(request)
        values: dict[str, Any] = {f: "" for f in kind.fields}
        if kind.plural == "assets":
            values.update(formats=["HttpData-PULL"], source='{\n  "type": "file",\n  "path": ""\n}')
        if kind.plural == "policies":
            values["policy"] = '{\n  "permission": [{"action": "use"}]\n}'
        return await self._form_page(request, kind, values, None)

    async def edit(self, request: web.Request) -> web.StreamResponse:
        kind = self._kind(request)
        item = await self.kit.api.call("GET", path(f"/v1/{kind.plural}", request.match_info["id"]))
        return await self._form_page(request, kind, kind.to_form(item), item["id"])

    async def _refused(
        self, request: web.Request, kind: Kind, values: Mapping[str, Any], existing: str | None, problem: Any
    ) -> web.StreamResponse:
        """The form again, with the API's (or the form's own) complaint next to its field."""
        if isinstance(problem, FieldError):
            return await self._form_page(request, kind, values, existing, {problem.field: problem.reason}, status=400)
        status = problem.status if 400 <= problem.status < 500 else 502
        said = problem.reason + (f" (at {problem.where})" if problem.where else "")
        field = field_of(problem.where, kind.fields)
        if field is not None:
            said = problem.reason if problem.where == field else said
            return await self._form_page(request, kind, values, existing, {field: said}, status=status)
        return await self._form_page(request, kind, values, existing, problem=f"{said} [{problem.code}]", status=status)

    async def create(self, request: web.Request) -> web.StreamResponse:
        kind = self._kind(request)
        values = _form_values(kind, request, self.kit)
        try:
            created = await self.kit.api.call("POST", f"/v1/{kind.plural}", kind.to_json(values))
        except (FieldError, ApiProblem) as problem:
            return await self._refused(request, kind, values, None, problem)
        self.kit.tell(request, f"Created {kind.name} {created.get('id')}.")
        return see_other(f"/console/{kind.plural}")

    async def save(self, request: web.Request) -> web.StreamResponse:
        kind = self._kind(request)
        item_id = request.match_info["id"]
        values = {**_form_values(kind, request, self.kit), "id": item_id}
        try:
            body = kind.to_json(values)
            if kind.replaceable:
                await self.kit.api.call("PUT", path(f"/v1/{kind.plural}", item_id), body)
            else:
                await self._replace(kind, item_id, body)
        except (FieldError, ApiProblem) as problem:
            return await self._refused(request, kind, values, item_id, problem)
        self.kit.tell(request, f"Saved {kind.name} {item_id}.")
        return see_other(f"/console/{kind.plural}")

    async def _replace(self, kind: Kind, item_id: str, body: dict[str, Any]) -> None:
        """Delete and create again; the old one comes back if the new one is refused."""
        api = self.kit.api
        old = await api.call("GET", path(f"/v1/{kind.plural}", item_id))
        await api.call("DELETE", path(f"/v1/{kind.plural}", item_id))
        try:
            await api.call("POST", f"/v1/{kind.plural}", body)
        except ApiProblem:
            await api.call("POST", f"/v1/{kind.plural}", kind.to_json(kind.to_form(old)))
            raise

    async def delete(self, request: web.Request) -> web.StreamResponse:
        kind = self._kind(request)
        item_id = request.match_info["id"]
        try:
            await self.kit.api.call("DELETE", path(f"/v1/{kind.plural}", item_id))
            self.kit.tell(request, f"Deleted {kind.name} {item_id}.")
        except ApiProblem as problem:
            self.kit.tell(request, f"The node did not delete {kind.name} {item_id}: {problem.reason} ({problem.code})")
        return see_other(f"/console/{kind.plural}")
