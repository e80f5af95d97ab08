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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from connector.demo.workspace import Workspace


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
        async with self.session.request(
            method,
            self.info["management"] + path,
            json=body,
            headers={"X-Api-Key": self.api_key},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            text = await resp.text()
            data = json.loads(text) if text else None
            if resp.status >= 400:
                detail = data.get("detail") if isinstance(data, dict) else text
                raise StepFailed(f"{self.info['key']}: {method} {path} -> {resp.status}: {detail}")
            return data

    async def negotiate(self, provider: Node, dataset: str, purpose: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"peer": provider.info["key"], "offerId": f"{dataset}-offer", "datasetId": dataset}
        if purpose:
            body["purpose"] = purpose
        neg = await self.api("POST", "/v1/negotiations", body)
        return await self.api("GET", f"/v1/negotiations/{neg['id']}?wait=FINALIZED,TERMINATED&timeout=30")

    async def cli(self, *args: str, timeout: float = 120) -> tuple[int, str, str]:
        """The command line, run as this organisation (on its host)."""
        from connector.demo.onboarding import run_as

        return await run_as(self.info, self.ws.dir, *args, "--config", self.config, timeout=timeout)


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


class Story:
    def __init__(self, ws: Workspace, console: Console | None = None) -> None:
        self.ws = ws
        self.console = console or Console()
        self.outcomes: list[Outcome] = []
        self.agreement_for_evidence: tuple[str, str] | None = None  # (org key, agreement id)

    async def run(self) -> list[Outcome]:
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
        out = self.ws.path("downloads/berlin-energy/traffic-flow.csv")
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

    async def _provider_trace(self, provider: Node, consumer_id: str, dataset: str) -> str:
        page = await provider.api("GET", "/v1/negotiations?state=TERMINATED&limit=20")
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
        lists = [str(self.ws.path(a["trustList"])) for a in self.ws.data["authorities"]]
        self.console.detail(
            f"{node.info['name']} exports the evidence bundle of agreement {agreement[:24]}...;\n"
            f"an auditor checks it offline with nothing but the bundle and the trust lists."
        )
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
        report = stdout.decode().strip().splitlines()
        for line in report[:14]:
            self.console.detail(line)
        self.record(
            "evidence",
            "the bundle verifies offline (exit status 0)",
            f"verify exit status {proc.returncode}" + (f": {stderr.decode().strip()}" if proc.returncode else ""),
            proc.returncode == 0,
        )


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
