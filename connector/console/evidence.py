"""The evidence page: the node's log (head, checkpoints, a check of the whole chain, a checkpoint on demand), and
the offline verification of a bundle uploaded with the trust lists the auditor chose, as `connector evidence
verify` does it (nothing of the node is used to verify)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from connector.console.api import ApiProblem, path
from connector.console.kit import Kit, Route
from connector.console.rendering import see_other
from connector.errors import ConnectorError
from connector.evidence.audit import ABSENT, FAILED, OK, chosen_trust_lists, verdict, verify_against
from connector.trust.trust_list import TrustList


def _upload(field: Any) -> tuple[str, bytes] | None:
    """(file name, bytes) of an uploaded file field, None when the field holds no file."""
    data = getattr(field, "file", None)
    if data is None:
        return None
    content = data.read()
    return (str(getattr(field, "filename", "") or "upload"), content) if content else None


class Evidence:
    def __init__(self, kit: Kit) -> None:
        self.kit = kit

    def routes(self) -> list[Route]:
        return [
            ("GET", "/evidence", self.page),
            ("POST", "/evidence/checkpoint", self.checkpoint),
            ("POST", "/evidence/check", self.check),
            ("POST", "/evidence/verify", self.verify),
        ]

    async def _page(self, request: web.Request, status: int = 200, **extra: Any) -> web.StreamResponse:
        kit = self.kit
        log, problem = await kit.maybe("GET", "/v1/evidence")
        checkpoints, _ = await kit.maybe("GET", path("/v1/evidence/checkpoints", limit=10))
        context: dict[str, Any] = {"check": None, "verification": None, "errors": {}}
        context.update(extra)
        return kit.render(
            request,
            "evidence.html",
            status=status,
            log=log or {"enabled": False},
            log_problem=problem,
            checkpoints=(checkpoints or {}).get("items", []),
            **context,
        )

    async def page(self, request: web.Request) -> web.StreamResponse:
        return await self._page(request)

    async def checkpoint(self, request: web.Request) -> web.StreamResponse:
        try:
            made = await self.kit.api.call("POST", "/v1/evidence/checkpoints", {})
            stamped = " and time-stamped" if made.get("timestamps") else ""
            done = "written" if made.get("created") else "already current"
            self.kit.tell(request, f"Checkpoint {made.get('id')} {done}{stamped}: {made.get('count')} records.")
        except ApiProblem as problem:
            self.kit.tell(request, f"No checkpoint: {problem.reason} ({problem.code})")
        return see_other("/console/evidence")

    async def check(self, request: web.Request) -> web.StreamResponse:
        try:
            result = await self.kit.api.call("POST", "/v1/evidence/check", {}, timeout=600)
        except ApiProblem as problem:
            self.kit.tell(request, f"The log could not be checked: {problem.reason} ({problem.code})")
            return see_other("/console/evidence")
        return await self._page(request, check=result)

    async def verify(self, request: web.Request) -> web.StreamResponse:
        form = self.kit.form(request)
        errors: dict[str, str] = {}
        bundle = _upload(form.get("bundle"))
        document: Any = None
        if bundle is None:
            errors["bundle"] = "Choose the bundle file to verify."
        else:
            try:
                document = json.loads(bundle[1].decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                errors["bundle"] = f"{bundle[0]} is not readable JSON: {exc}"
            except RecursionError:  # the parser's own bound, before it runs out of stack
                errors["bundle"] = f"{bundle[0]} nests arrays and objects too deeply to be read."
        texts = []
        for field in form.getall("trust_lists", []):
            upload = _upload(field)
            if upload is None:
                continue
            try:
                texts.append((upload[0], upload[1].decode("ascii")))
            except UnicodeDecodeError:
                errors["trust_lists"] = f"{upload[0]} is not a signed trust list (not ASCII text)."
        if not texts and "trust_lists" not in errors:
            errors["trust_lists"] = "Choose at least one federation's signed trust list."
        now = datetime.now(UTC)
        lists: list[TrustList] = []
        notes: list[str] = []
        if "trust_lists" not in errors:
            try:
                lists, notes = chosen_trust_lists(texts, now)
            except ConnectorError as exc:
                errors["trust_lists"] = exc.reason
        if errors:
            return await self._page(request, status=400, errors=errors)
        expected = self.kit.text(request, "agreement") or None
        accept_partial = self.kit.text(request, "accept_partial") == "yes"
        # Signatures and certificate paths: worth a thread, so that the node answers others meanwhile.
        report = await asyncio.to_thread(verify_against, document, lists, now, expected)
        holds, said = verdict(report, accept_partial)
        verification = {
            "file": bundle[0] if bundle else "",
            "report": report,
            "holds": holds,
            "verdict": said,
            "notes": notes,
            "groups": [
                ("Proven", OK, [c for c in report.checks if c.status == OK]),
                ("Not proven", ABSENT, [c for c in report.checks if c.status == ABSENT]),
                ("Failed", FAILED, [c for c in report.checks if c.status == FAILED]),
            ],
        }
        return await self._page(request, verification=verification)
