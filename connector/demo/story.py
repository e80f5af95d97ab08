"""The demo's story: what "data free flow with trust" means, step by step, against a running data space.

Every step says in plain words what happens, shows the protocol states the nodes went through, checks the
outcome the scenario expects, and records it for the summary. The story talks to the nodes only through what an
operator has: each organisation's management API and the `connector` command line.
"""

from __future__ import annotations

import asyncio
import filecmp
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from connector.demo.workspace import Workspace, statement_id
from connector.errors import ConnectorError


@dataclass
class Outcome:
    step: str
    expected: str
    observed: str
    ok: bool
    seconds: float = 0.0


class StepFailed(Exception):
    pass


@dataclass
class Console:
    """Plain output for people: short lines, indented details, no colour when not on a terminal."""

    write: Callable[[str], None] = field(default=lambda text: print(text, flush=True))
    colour: bool = field(default_factory=lambda: sys.stdout.isatty())

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def heading(self, number: int, text: str) -> None:
        self.write("")
        self.write(self._paint("1", f"[{number}] {text}"))

    def detail(self, text: str) -> None:
        for line in text.splitlines():
            self.write(f"    {line}")

    def good(self, text: str) -> None:
        self.write("    " + self._paint("32", "OK   ") + text)

    def bad(self, text: str) -> None:
        self.write("    " + self._paint("31", "FAIL ") + text)


class Node:
    """One organisation, as its operator reaches it."""

    def __init__(self, ws: Workspace, key: str, session: aiohttp.ClientSession) -> None:
        self.ws = ws
        self.info = ws.organisation(key)
        self.session = session
        self._api_key: str | None = None

    @property
    def api_key(self) -> str:
        if self._api_key is None:
            self._api_key = self.ws.api_key(self.info)
        return self._api_key

    @property
    def label(self) -> str:
        fed = self.ws.authority(self.info["federation"])["name"]
        return f"{self.info['name']} ({self.info['country']}, {fed})"

    @property
    def config(self) -> str:
        return str(self.ws.path(self.info["config"]))

    async def api(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        status, data = await self.attempt(method, path, body, timeout)
        if status >= 400:
            detail = data.get("detail") if isinstance(data, dict) else data
            raise StepFailed(f"{self.info['key']}: {method} {path} -> {status}: {detail}")
        return data

    async def attempt(self, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
        """A management call whose refusal is an outcome to show: (status, body)."""
        async with self.session.request(
            method,
            self.info["management"] + path,
            json=body,
            headers={"X-Api-Key": self.api_key},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text else None

    async def negotiate(self, provider: Node, dataset: str, purpose: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"peer": provider.info["key"], "offerId": f"{dataset}-offer", "datasetId": dataset}
        if purpose:
            body["purpose"] = purpose
        neg = await self.api("POST", "/v1/negotiations", body)
        return await self.api("GET", f"/v1/negotiations/{neg['id']}?wait=FINALIZED,TERMINATED&timeout=30")

    async def cli(self, *args: str, timeout: float = 120, config: Path | None = None) -> tuple[int, str, str]:
        """The command line, run as this organisation (on its host); `config`: another configuration file of it."""
        from connector.demo.onboarding import run_as

        chosen = str(config) if config is not None else self.config
        return await run_as(self.info, self.ws.dir, *args, "--config", chosen, timeout=timeout)


def gist(reason: str | None, width: int = 150) -> str:
    """The heart of a refusal for the summary line (the full reason and trace are printed above it)."""
    text = reason or ""
    for marker in ("contract refused: ", "does not permit this transfer: ", "refused the ", "the peer refused "):
        if marker in text:
            text = text[text.index(marker) + len(marker) :]
            break
    text = text.split(" (source:")[0]
    return text if len(text) <= width else text[: width - 3] + "..."


def states(record: dict[str, Any]) -> str:
    """The protocol states a process went through, from its history: REQUESTED -> AGREED -> ..."""
    seen: list[str] = []
    for entry in record.get("history", []):
        if not seen or seen[-1] != entry["to"]:
            seen.append(entry["to"])
    return " -> ".join(seen)


TOLD = "story-told"  # in a workspace where the story ran: when it began


def not_told_yet(ws: Workspace) -> None:
    """Refuses a workspace whose story ran already: it revokes Lyon Sante and keeps what it received, so a second
    run would fail steps for what the first one did, not for anything wrong."""
    marker = ws.dir / TOLD
    if marker.exists():
        began = marker.read_text(errors="replace").strip()
        raise ConnectorError(
            "demo.story_told",
            f"the story was told in {ws.dir} at {began} already (it revokes Lyon Sante and keeps what it received, so "
            "it runs once per data space): run 'connector demo' for a new one, or 'connector demo up --workdir "
            f"{ws.dir}' to use this one by hand",
            "--workdir",
        )


class Story:
    def __init__(self, ws: Workspace, console: Console | None = None) -> None:
        self.ws = ws
        self.console = console or Console()
        self.outcomes: list[Outcome] = []
        self.agreement_for_evidence: tuple[str, str] | None = None  # (org key, agreement id)
        self.evidence_bundle: Path | None = None  # the bundle the evidence step exported

    async def run(self) -> list[Outcome]:
        not_told_yet(self.ws)
        try:
            (self.ws.dir / TOLD).write_text(datetime.now(UTC).isoformat(timespec="seconds") + "\n")
        except OSError:
            pass  # a workspace this process cannot write to (a container's read-only view): nothing to remember
        async with aiohttp.ClientSession() as session:
            nodes = {o["key"]: Node(self.ws, o["key"], session) for o in self.ws.data["organisations"]}
            steps = [
                ("A catalogue across federations", self.catalogue),
                ("A negotiation, signed by both sides", self.negotiation),
                ("A transfer, sealed by the provider", self.transfer),
                ("Data localisation: a request refused for the consumer's country", self.localisation),
                ("Purpose and count limits, decided again at transfer time", self.usage_limits),
                ("Revocation: a participant loses its standing", self.revocation),
                ("Evidence an auditor verifies offline", self.evidence),
                *self.trust_framework_steps(),
                ("No unintended use: duties fulfilled and receipted", self.usage_duties),
                ("No lock-in: an export restored into a fresh node", self.no_lock_in),
            ]
            for number, (title, step) in enumerate(steps, 1):
                self.console.heading(number, title)
                started = time.monotonic()
                before = len(self.outcomes)
                try:
                    await step(nodes)
                except Exception as exc:  # a failing step is reported in the summary, the story goes on
                    self.record(title, "the step runs", f"{type(exc).__name__}: {exc}", False)
                for outcome in self.outcomes[before:]:
                    outcome.seconds = (time.monotonic() - started) / max(1, len(self.outcomes) - before)
        return self.outcomes

    def record(self, step: str, expected: str, observed: str, ok: bool) -> None:
        self.outcomes.append(Outcome(step, expected, observed, ok))
        (self.console.good if ok else self.console.bad)(f"{observed}")

    # --- the steps ------------------------------------------------------------------------------------------

    async def catalogue(self, nodes: dict[str, Node]) -> None:
        consumer, provider = nodes["berlin-energy"], nodes["tokyo-mobility"]
        self.console.detail(
            f"{consumer.label}\nasks {provider.label} for its catalogue, over mutual TLS;\n"
            f"each side verifies the other's certificate and verifiable credentials against the\n"
            f"trust list of the other's federation."
        )
        catalog = await consumer.api("POST", "/v1/catalog/request", {"peer": "tokyo-mobility"})
        for ds in catalog["datasets"]:
            self.console.detail(f"  dataset {ds['id']}: {ds.get('title')}")
        ids = [d["id"] for d in catalog["datasets"]]
        self.record(
            "catalogue",
            "traffic-flow is visible to a member of the other federation",
            f"{len(ids)} dataset(s) visible: {', '.join(ids)}",
            "traffic-flow" in ids,
        )

    async def negotiation(self, nodes: dict[str, Node]) -> None:
        consumer, provider = nodes["berlin-energy"], nodes["tokyo-mobility"]
        self.console.detail(
            f"{consumer.info['name']} requests the offer for traffic-flow; the provider's contract "
            f"policy decides,\nthe provider signs the agreement, the consumer checks and "
            f"countersigns it."
        )
        neg = await consumer.negotiate(provider, "traffic-flow")
        self.console.detail(f"consumer: {states(neg)}")
        ok = neg["state"] == "FINALIZED"
        if ok:
            self.agreement_for_evidence = ("berlin-energy", neg["agreementId"])
            self.console.detail(f"agreement {neg['agreementId']}")
        self.record(
            "negotiation",
            "FINALIZED with an agreement",
            f"{neg['state']}" + (f": {neg.get('reason')}" if not ok else ""),
            ok,
        )

    async def transfer(self, nodes: dict[str, Node]) -> None:
        consumer = nodes["berlin-energy"]
        if self.agreement_for_evidence is None:
            raise StepFailed("no agreement from the previous step")
        agreement = self.agreement_for_evidence[1]
        # In the consumer's own folder: the node records where the data landed (to delete it when due), so the
        # file must be one it sees too (with compose the story and the node share only that volume).
        out = self.ws.path(f"{consumer.info['dir']}/downloads/traffic-flow.csv")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.console.detail(
            f"{consumer.info['name']} pulls the data under agreement {agreement[:24]}...: the "
            f"provider streams it over\nmutual TLS with a token bound to this transfer and "
            f"seals it; the consumer checks the seal before it completes."
        )
        code, stdout, stderr = await consumer.cli("transfer", agreement, "--out", str(out), "--quiet")
        source = self.ws.path(f"{self.ws.organisation('tokyo-mobility')['dir']}/data/traffic-flow.csv")
        # The provider's file, where the story can see it (not across containers: there the seal vouches for it).
        same = (out.is_file() and filecmp.cmp(out, source, shallow=False)) if source.is_file() else None
        for line in (stdout.strip().splitlines() or [])[-3:]:
            self.console.detail(line)
        self.record(
            "transfer",
            "COMPLETED, seal verified, bytes identical to the provider's file",
            f"{out.stat().st_size if out.is_file() else 0} bytes, "
            + (f"identical: {same}" if same is not None else "as sealed by the provider")
            + (f" ({stderr.strip()})" if code else ""),
            code == 0 and same is not False and out.is_file(),
        )

    async def localisation(self, nodes: dict[str, Node]) -> None:
        consumer, provider = nodes["tokyo-mobility"], nodes["berlin-energy"]
        self.console.detail(
            f"{consumer.label} requests smart-meter-readings from {provider.info['name']},\n"
            f"whose policy says: only organisations established in the EU."
        )
        neg = await consumer.negotiate(provider, "smart-meter-readings")
        self.console.detail(f"consumer: {states(neg)}")
        refused = neg["state"] == "TERMINATED" and "JP" in (neg.get("reason") or "")
        trace = await self._provider_trace(provider, consumer.info["participantId"], "smart-meter-readings")
        if trace:
            self.console.detail("the provider's policy trace:")
            self.console.detail("\n".join("  " + line for line in trace.splitlines()))
        self.record(
            "localisation",
            "TERMINATED: the consumer is established in JP, not in the EU",
            f"{neg['state']}: {gist(neg.get('reason'))}",
            refused,
        )
        other = nodes["lyon-health"]
        neg = await other.negotiate(provider, "smart-meter-readings")
        self.record(
            "localisation",
            "granted to an organisation established in FR",
            f"{other.info['name']}: {neg['state']}",
            neg["state"] == "FINALIZED",
        )

    async def _provider_trace(self, provider: Node, consumer_id: str, dataset: str, state: str = "TERMINATED") -> str:
        page = await provider.api("GET", f"/v1/negotiations?state={state}&limit=20")
        for item in page["items"]:
            if item["counterPartyId"] == consumer_id and item["datasetId"] == dataset:
                record = await provider.api("GET", f"/v1/negotiations/{item['id']}")
                for entry in record["history"]:
                    detail = entry.get("detail") or {}
                    if detail.get("explanation"):
                        return detail["explanation"]
        return ""

    async def usage_limits(self, nodes: dict[str, Node]) -> None:
        consumer, provider = nodes["berlin-energy"], nodes["lyon-health"]
        self.console.detail(
            f"{provider.info['name']} offers hospital-occupancy only for research or public "
            f"health, at most 2 transfers."
        )
        refused = await consumer.negotiate(provider, "hospital-occupancy", purpose="marketing")
        self.console.detail(f"for 'marketing': {states(refused)}")
        self.record(
            "usage limits",
            "refused for the purpose 'marketing'",
            f"{refused['state']}: {gist(refused.get('reason'))}",
            refused["state"] == "TERMINATED" and "purpose" in (refused.get("reason") or ""),
        )
        neg = await consumer.negotiate(provider, "hospital-occupancy", purpose="research")
        if neg["state"] != "FINALIZED":
            self.record("usage limits", "FINALIZED for research", f"{neg['state']}: {neg.get('reason')}", False)
            return
        results = []
        for attempt in range(1, 4):
            tp = await consumer.api("POST", "/v1/transfers", {"agreementId": neg["agreementId"]})
            tp = await consumer.api("GET", f"/v1/transfers/{tp['id']}?wait=STARTED,TERMINATED&timeout=30")
            results.append(tp)
            self.console.detail(
                f"transfer {attempt}: {states(tp)}"
                + (f" ({gist(tp['reason'])})" if tp["state"] == "TERMINATED" else "")
            )
            if tp["state"] == "STARTED":
                await consumer.api(
                    "POST", f"/v1/transfers/{tp['id']}/terminate", {"reason": "the demo only needed to start it"}
                )
        ok = (
            [t["state"] for t in results[:2]] == ["STARTED", "STARTED"]
            and results[2]["state"] == "TERMINATED"
            and "count" in (results[2].get("reason") or "")
        )
        self.record(
            "usage limits",
            "transfers 1 and 2 start, transfer 3 is refused (count)",
            ", ".join(t["state"] for t in results),
            ok,
        )

    async def revocation(self, nodes: dict[str, Node]) -> None:
        from connector.demo.onboarding import run_as

        victim, provider = nodes["lyon-health"], nodes["tokyo-mobility"]
        eu = self.ws.authority(victim.info["federation"])
        self.console.detail(
            f"the {eu['name']} revokes {victim.info['name']}: its certificates (CRL) and its credentials\n"
            "(status list); the other hosts learn it from the authority's URLs alone (nothing is copied to them)."
        )
        code, out, err = await run_as(
            eu, self.ws.dir, "pki", "revoke", "--authority", eu["dir"], "--participant-id", victim.info["participantId"]
        )
        if code:
            raise StepFailed(f"the authority could not revoke: {err.strip() or out.strip()}")
        for line in out.strip().splitlines()[:2]:
            self.console.detail(line)
        await asyncio.sleep(4.0)  # nodes fetch the CRL (trust.crl_max_age 1 s) and status list (2 s) again by then
        try:
            neg = await victim.negotiate(provider, "traffic-flow")
        except StepFailed as exc:  # refused before a negotiation even started (the offer lookup)
            self.console.detail(f"{victim.info['name']} tries again and is refused at once")
            self.record(
                "revocation",
                "the revoked participant's next request is refused",
                f"refused: {gist(str(exc))}",
                "revoked" in str(exc),
            )
            return
        self.console.detail(f"{victim.info['name']} tries again: {states(neg)}")
        self.record(
            "revocation",
            "the revoked participant's next request is refused",
            f"{neg['state']}: {gist(neg.get('reason'))}",
            neg["state"] == "TERMINATED",
        )

    async def evidence(self, nodes: dict[str, Node]) -> None:
        if self.agreement_for_evidence is None:
            raise StepFailed("no agreement to export")
        key, agreement = self.agreement_for_evidence
        node = nodes[key]
        bundle = self.ws.path(f"evidence/{agreement.rsplit(':', 1)[-1]}.bundle.json")
        bundle.parent.mkdir(parents=True, exist_ok=True)
        code, out, err = await node.cli("evidence", "export", agreement, "--out", str(bundle))
        if code:
            raise StepFailed(f"export failed: {err.strip() or out.strip()}")
        self.evidence_bundle = bundle
        self.console.detail(
            f"{node.info['name']} exports the evidence bundle of agreement {agreement[:24]}...;\n"
            f"an auditor checks it offline with nothing but the bundle and the trust lists."
        )
        status, stdout, stderr = await self.verify_offline(bundle)
        report = stdout.strip().splitlines()
        for line in report[:14]:
            self.console.detail(line)
        self.record(
            "evidence",
            "the bundle verifies offline (exit status 0)",
            f"verify exit status {status}" + (f": {stderr.strip()}" if status else ""),
            status == 0,
        )

    async def verify_offline(self, bundle: Path) -> tuple[int, str, str]:
        """`connector evidence verify` of a bundle against the two federations' trust lists, as an auditor runs it:
        with nothing of any node."""
        lists = [str(self.ws.path(a["trustList"])) for a in self.ws.data["authorities"]]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "connector",
            "evidence",
            "verify",
            str(bundle),
            *[arg for path in lists for arg in ("--trust-list", path)],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await proc.communicate()
        return proc.returncode or 0, stdout.decode(), stderr.decode()

    async def usage_duties(self, nodes: dict[str, Node]) -> None:
        consumer, provider = nodes["berlin-energy"], nodes["tokyo-mobility"]
        dataset = "ev-charging-sessions"
        self.console.detail(
            f"{provider.info['name']} offers {dataset} under duties that travel with the signed agreement:\n"
            f"{self.ws.dataset(dataset)['policy']}."
        )
        neg = await consumer.negotiate(provider, dataset)
        if neg["state"] != "FINALIZED":
            raise StepFailed(f"the negotiation ended {neg['state']}: {neg.get('reason')}")
        agreement = neg["agreementId"]
        tp = await consumer.api("POST", "/v1/transfers", {"agreementId": agreement, "format": "HttpData-PUSH"})
        tp = await consumer.api("GET", f"/v1/transfers/{tp['id']}?wait=COMPLETED,TERMINATED&timeout=30")
        duties_path = f"/v1/agreements/{agreement}/duties"
        view = await consumer.api("GET", duties_path)
        if tp["state"] != "COMPLETED" or not view["received"]:
            raise StepFailed(f"the data did not arrive: the transfer is {tp['state']} {tp.get('reason') or ''}")
        received = view["received"][0]
        self.console.detail(
            f"{provider.info['name']} pushed it to {consumer.info['name']} ({received['size']} bytes, "
            f"to be deleted by {received['deleteDueAt'][:19]})."
        )

        name = received["file"].rsplit("/", 1)[-1]
        source = {"type": "file", "root": "received", "path": name}
        status, body = await consumer.attempt("POST", "/v1/assets", {"id": f"{dataset}-resale", "source": source})
        said = body.get("detail") if isinstance(body, dict) else str(body)
        self.console.detail(f"{consumer.info['name']} tries to offer the data on: {status}, {gist(said, 200)}")
        self.record(
            "usage duties",
            "offering the data onward is refused (no onward transfer)",
            f"{status} {body.get('code') if isinstance(body, dict) else ''}",
            status == 409 and isinstance(body, dict) and body.get("code") == "duty.no_onward_transfer",
        )

        async def held(duty: str) -> bool:
            return any(r["duty"] == duty for r in (await provider.api("GET", duties_path))["receipts"])

        notified = await _until(lambda: held("inform"), 15)
        self.record(
            "usage duties",
            "the provider holds the consumer's signed notice of the use",
            "notice received and verified" if notified else "no notice arrived",
            notified,
        )
        deleted = await _until(lambda: held("delete"), 20)
        # The provider's operator asks the consumer for the receipts (as `connector duties --fetch` does), through
        # the management API: with compose the story holds the provider's API key, not its configuration.
        view = await provider.api("POST", duties_path)
        if view.get("fetched"):
            fetched = view["fetched"]
            self.console.detail(f"asked {fetched['asked']}: {fetched['received']} receipt(s), {fetched['new']} new")
        for receipt in view["receipts"]:
            self.console.detail(f"receipt ({receipt['direction']}): {receipt['statement']}")
        receipts = (await consumer.api("GET", duties_path))["receipts"]
        deletion = next((r for r in receipts if r["duty"] == "delete"), None)
        self.record(
            "usage duties",
            "deleted when due, the consumer's signed receipt held by the provider",
            deletion["statement"] if deletion else "no deletion yet",
            deleted and deletion is not None and deletion["outcome"] == "deleted" and not deletion["late"],
        )

        bundle = self.ws.path(f"evidence/{agreement.rsplit(':', 1)[-1]}.duties.bundle.json")
        bundle.parent.mkdir(parents=True, exist_ok=True)
        document = await provider.api("GET", f"/v1/evidence/agreements/{quote(agreement, safe='')}/bundle")
        bundle.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        status, stdout, stderr = await self.verify_offline(bundle)
        for line in stdout.splitlines():
            if line.startswith("  duty: "):
                self.console.detail(line.strip())
        self.record(
            "usage duties",
            "the provider's evidence bundle proves both receipts offline",
            f"verify exit status {status}" + (f": {stderr.strip() or stdout.strip()[-300:]}" if status else ""),
            status == 0 and stdout.count("  duty: ") == 2,
        )

    async def no_lock_in(self, nodes: dict[str, Node]) -> None:
        node = nodes["berlin-energy"]
        if self.ws.data.get("profile") == "compose":
            # The node's store lives in its container's own volume, out of the story's reach.
            self.record(
                "no lock-in",
                "shown by `connector demo`, where the story can read the node's store",
                f"in containers: docker compose exec {node.info['key']} connector export --all --out /tmp/a.zip",
                True,
            )
            return
        archive = self.ws.path(f"exports/{node.info['key']}.archive.zip")
        archive.parent.mkdir(parents=True, exist_ok=True)
        self.console.detail(
            f"{node.info['name']} exports everything it holds while it runs: a signed archive in an open format\n"
            "(JSON Lines and a manifest of hashes, docs/archive.md), restored into a fresh node that verifies it."
        )
        # The same file on every run of the story on this workspace: the archive of this run replaces it.
        code, out, err = await node.cli("export", "--all", "--out", str(archive), "--overwrite", "--json")
        if code:
            raise StepFailed(f"export failed: {err.strip()}")
        manifest = json.loads(out)["manifest"]
        rows = {f["path"]: f["rows"] for f in manifest["files"]}
        self.console.detail(
            f"wrote {archive.name}: {rows['agreements.jsonl']} agreements, {rows['assets.jsonl']} assets, "
            f"{rows['counterparties.jsonl']} counterparties, {manifest['evidence']['records']} evidence records "
            f"and {manifest['evidence']['checkpoints']} checkpoint(s), signed by {manifest['node']}"
        )
        fresh = self._fresh_installation(node)
        code, out, err = await node.cli("import", str(archive), config=fresh)
        lines = out.strip().splitlines()
        if lines:
            self.console.detail(lines[-1])
        self.record(
            "no lock-in",
            "the archive is restored into a fresh node, its signature, files and evidence chain verified",
            "restored" if code == 0 else f"import exit status {code}: {err.strip()}",
            code == 0,
        )
        code, out, err = await node.cli("evidence", "check", config=fresh)
        self.console.detail(out.strip().splitlines()[-1] if out.strip() else err.strip())
        self.record(
            "no lock-in",
            "the fresh node's evidence log checks out (`connector evidence check`)",
            f"exit status {code}: " + (out.strip().splitlines()[-1][:120] if out.strip() else err.strip()),
            code == 0 and "the log is intact" in out,
        )

    def _fresh_installation(self, node: Node) -> Path:
        """The organisation's configuration for a new installation: a data folder of its own, a management port
        nothing listens on (so that commands read its store, as they do with a stopped node)."""
        from connector.free_port import free_port

        config = self.ws.path(node.info["config"])
        text = config.read_text().replace('data_dir = "var"', 'data_dir = "var-restored"')
        text = text.replace(f'listen = "{node.info["listen"]["management"]}"', f'listen = "127.0.0.1:{free_port()}"')
        fresh = config.with_name("node-restored.toml")
        fresh.write_text(text)
        return fresh

    # --- trust frameworks: recognition, base registries, accredited services ------------------------------------

    def trust_framework_steps(self) -> list[tuple[str, Callable[[dict[str, Node]], Awaitable[None]]]]:
        return [
            (
                "Mutual recognition: a credential of the other federation satisfies a policy in its own terms",
                self.recognition,
            ),
            ("A registry-checked organisation: a policy on legal entities as base registries name them", self.registry),
            ("A time-stamp authority withdrawn: evidence stamped before still verifies", self.withdrawn_tsa),
        ]

    async def recognition(self, nodes: dict[str, Node]) -> None:
        consumer, provider = nodes["tokyo-mobility"], nodes["berlin-energy"]
        eu = self.ws.authority(provider.info["federation"])
        jp = self.ws.authority(consumer.info["federation"])
        self.console.detail(
            f"{provider.info['name']} offers grid-frequency to members of the {eu['name']} only, in its own\n"
            f"terms (membership eq {eu['dataspace']}). The {eu['name']} has signed that it accepts\n"
            f"membership of the {jp['name']} as its own for research and public health\n"
            f"({eu['recognition']}); {provider.info['name']}'s node applies what its own federation signed."
        )
        granted = await consumer.negotiate(provider, "grid-frequency", purpose="research")
        self.console.detail(f"{consumer.info['name']}, for 'research': {states(granted)}")
        trace = await self._provider_trace(provider, consumer.info["participantId"], "grid-frequency", "FINALIZED")
        path = [line.strip() for line in trace.splitlines() if "membership" in line and "recognised" in line]
        for line in path[:1]:
            self.console.detail("the provider's trace: " + line)
        self.record(
            "recognition",
            "granted for research: a Japan Data Space member counts as a European one, the trace shows the path",
            f"{granted['state']}" + (f": {gist(granted.get('reason'))}" if granted["state"] != "FINALIZED" else ""),
            granted["state"] == "FINALIZED" and bool(path) and statement_id(self.ws.path(eu["recognition"])) in path[0],
        )
        refused = await consumer.negotiate(provider, "grid-frequency", purpose="marketing")
        self.console.detail(f"for 'marketing' (a purpose the recognition does not cover): {states(refused)}")
        self.record(
            "recognition",
            "refused for marketing: the recognition holds for research and public health only",
            f"{refused['state']}: {gist(refused.get('reason'))}",
            refused["state"] == "TERMINATED" and "membership" in (refused.get("reason") or ""),
        )

    async def registry(self, nodes: dict[str, Node]) -> None:
        consumer, provider = nodes["berlin-energy"], nodes["tokyo-mobility"]
        source = self.ws.data["registries"]["lei"].rsplit("/", 1)[-1]
        self.console.detail(
            f"{provider.info['name']} offers charging-stations to a list of legal entities, by LEI, registered in\n"
            f"the EU. {consumer.info['name']}'s OrganizationCredential states its LEI, legal name and address,\n"
            f"as its authority checked them against the GLEIF golden copy ({source}) at issuance."
        )
        neg = await consumer.negotiate(provider, "charging-stations")
        self.console.detail(f"{consumer.info['name']}: {states(neg)}")
        trace = await self._provider_trace(provider, consumer.info["participantId"], "charging-stations", "FINALIZED")
        lines = [line.strip() for line in trace.splitlines() if line.strip().startswith("legalEntity")]
        for line in lines[:1]:
            self.console.detail("the provider's trace: " + line)
        records = await provider.api(
            "GET", f"/v1/verifications?outcome=verified&peer={quote(consumer.info['participantId'], safe='')}&limit=20"
        )
        checked = [
            c["registration"]
            for r in records["items"]
            for c in r["detail"].get("credentials", [])
            if c.get("registration")
        ]
        if checked:
            self.console.detail(
                f"recorded with the verification (and in {provider.info['name']}'s evidence log): "
                f"{checked[0]['legalEntity']}, {checked[0]['legalName']}, checked at {checked[0]['checkedAt']} "
                f"against {checked[0]['source']['name']}"
            )
        self.record(
            "registry",
            "granted: the consumer's LEI, checked against the GLEIF golden copy, is on the provider's list",
            f"{neg['state']}" + (f": {gist(neg.get('reason'))}" if neg["state"] != "FINALIZED" else ""),
            neg["state"] == "FINALIZED"
            and bool(lines)
            and source in lines[0]
            and bool(checked)
            and checked[0]["legalEntity"] == consumer.info["legalEntity"],
        )

    async def withdrawn_tsa(self, nodes: dict[str, Node]) -> None:
        from connector.pki.authority import Authority
        from connector.pki.services import change_status
        from connector.pki.trust_list import issue_trust_list

        if self.evidence_bundle is None or self.agreement_for_evidence is None:
            raise StepFailed("no evidence bundle from the evidence step")
        node = nodes[self.agreement_for_evidence[0]]
        fed = self.ws.authority(node.info["federation"])
        authority = Authority(self.ws.path(fed["dir"]))
        self.console.detail(
            f"The {fed['name']} withdraws its time-stamp authority (the service that stamped {node.info['name']}'s\n"
            f"checkpoints) and publishes its ETSI TS 119 612 trusted list again, with the TSA's status history."
        )
        for each in nodes.values():  # every record so far under a time-stamp made before the withdrawal
            await each.api("POST", "/v1/evidence/checkpoints")
        withdrawn = _next_second()
        change_status(authority, "tsa", "withdrawn", withdrawn)
        listed = self.ws.path(f"evidence/{fed['key']}-trust-list-tsa-withdrawn.xml")
        issue_trust_list(authority, listed, valid_days=30, format="etsi")
        self.console.detail(f"TSA: granted, then withdrawn from {withdrawn.isoformat()}")
        code, report = await self._verify(self.evidence_bundle, listed, fed["key"])
        for line in report[:2] + [line for line in report if "log.timestamp" in line][:1]:
            self.console.detail(line)
        self.record(
            "withdrawn TSA",
            "the bundle time-stamped before the withdrawal still verifies (exit status 0)",
            f"verify exit status {code}",
            code == 0,
        )
        await _sleep_until(withdrawn)
        provider = nodes["tokyo-mobility"] if node.info["key"] != "tokyo-mobility" else nodes["berlin-energy"]
        later = await node.negotiate(
            provider, "traffic-flow" if provider.info["key"] == "tokyo-mobility" else "smart-meter-readings"
        )
        if later["state"] != "FINALIZED":
            raise StepFailed(
                f"the negotiation after the withdrawal ended {later['state']}: {gist(later.get('reason'))}"
            )
        after = self.ws.path("evidence/stamped-after-withdrawal.bundle.json")
        document = await node.api("GET", f"/v1/evidence/agreements/{quote(later['agreementId'], safe='')}/bundle")
        after.write_text(json.dumps(document))
        code, report = await self._verify(after, listed, fed["key"])
        failed = [line for line in report if "not accredited" in line]
        for line in failed[:1]:  # the auditor's report marks it [FAIL]: here it is the expected outcome
            self.console.detail("evidence stamped after it is refused: " + line.replace("[FAIL]", "").strip())
        self.record(
            "withdrawn TSA",
            "evidence time-stamped after the withdrawal does not verify (exit status 1)",
            f"verify exit status {code}" + (": the TSA was not accredited when it stamped" if failed else ""),
            code == 1 and bool(failed),
        )
        # The federation accredits its TSA again, so that what follows is stamped by an accredited service.
        granted = _next_second()
        change_status(authority, "tsa", "granted", granted)
        issue_trust_list(authority, valid_days=30, format="etsi")
        await _sleep_until(granted)
        for each in nodes.values():
            await each.api("POST", "/v1/evidence/checkpoints")

    async def _verify(self, bundle: Path, trust_list: Path, federation: str) -> tuple[int, list[str]]:
        """`connector evidence verify` as an auditor runs it: `trust_list` for `federation`, the others as they are."""
        lists = [trust_list] + [
            self.ws.path(a["trustList"]) for a in self.ws.data["authorities"] if a["key"] != federation
        ]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "connector",
            "evidence",
            "verify",
            str(bundle),
            *[arg for path in lists for arg in ("--trust-list", str(path))],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, _ = await proc.communicate()
        return proc.returncode or 0, stdout.decode().strip().splitlines()


async def _until(predicate: Callable[[], Any], timeout: float, interval: float = 0.2) -> bool:
    """Whether `predicate` (sync or async) held within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        held = predicate()
        if asyncio.iscoroutine(held):
            held = await held
        if held:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


def _next_second() -> datetime:
    """The next whole second (trusted lists state whole seconds: a status taking effect then is unambiguous)."""
    now = datetime.now(UTC)
    return (now + timedelta(seconds=1)).replace(microsecond=0)


async def _sleep_until(moment: datetime) -> None:
    wait = (moment - datetime.now(UTC)).total_seconds() + 0.05
    if wait > 0:
        await asyncio.sleep(wait)


def summary(outcomes: list[Outcome], console: Console, seconds: float) -> bool:
    console.write("")
    width = max([len(o.step) for o in outcomes] + [4])
    console.write(f"{'STEP'.ljust(width)}  RESULT  EXPECTED")
    console.write(f"{'-' * width}  ------  {'-' * 50}")
    for o in outcomes:
        console.write(f"{o.step.ljust(width)}  {'ok    ' if o.ok else 'FAILED'}  {o.expected}")
    passed = all(o.ok for o in outcomes) and bool(outcomes)
    console.write("")
    console.write(
        f"{sum(o.ok for o in outcomes)}/{len(outcomes)} steps behaved as expected in {seconds:.1f} s"
        + ("" if passed else " -- see the FAIL lines above")
    )
    return passed
