"""What the evidence end-to-end tests share: one real exchange between two credentialed nodes of a federation
whose authority also time-stamps, the bundles both sides export of it, and small helpers to tamper with them.

The exchange runs once per session (negotiations, a sealed pull transfer, exports, live checks); the tests then
work on copies of what it left behind: bundle files, trust lists and the nodes' stopped stores.
"""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dataplane_e2e.kit import Pair, data_section, pull_all, settle, started, wait_state
from nodekit import Management, Participant, acli, running_node
from trust_e2e.kit import Federation, NodeSpec, credentialed, dcp_config, make_federation

from connector.store.sqlite import SqliteTx, connect, migrate

DATA = b"station,temp\nKYOTO,21.5\nBERLIN,14.0\n"


@dataclass
class Exchange:
    root: Path
    federation: Federation
    provider: Participant
    consumer: Participant
    pcfg: Path
    ccfg: Path
    trust_list: Path  # signed with `connector pki trust-list`, as an auditor would be given it
    agreement: str  # negotiated, then a pull transfer under it, sealed and completed
    other_agreement: str  # a second agreement between the same parties, no transfer
    transfer: str  # the consumer's transfer id
    bundles: dict[str, Path] = field(default_factory=dict)  # consumer, provider, other
    live: dict[str, Any] = field(default_factory=dict)  # what the running nodes answered

    def bundle(self, name: str = "consumer") -> dict[str, Any]:
        return json.loads(self.bundles[name].read_text())

    @property
    def store_files(self) -> dict[str, Path]:
        return {
            "provider": self.root / "var-provider" / "connector.sqlite",
            "consumer": self.root / "var-consumer" / "connector.sqlite",
        }

    def copy_node(self, who: str, into: Path) -> Path:
        """A copy of a stopped node's data folder and a configuration pointing at it; returns the config."""
        source = self.root / f"var-{who}"
        target = into / f"var-{who}"
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("node.lock"))
        config = (self.pcfg if who == "provider" else self.ccfg).read_text()
        config = config.replace(f'data_dir = "{source}"', f'data_dir = "{target}"')
        path = into / f"{who}.toml"
        path.write_text(config)
        return path


def _configure(federation: Federation, participant: Participant, root: Path, name: str) -> Path:
    path = dcp_config(NodeSpec(participant, [federation]), root)
    data_root = root / f"{name}-data"
    data_root.mkdir(exist_ok=True)
    evidence = f'\n[evidence]\ntsa_url = "https://localhost:{federation.port}/tsa"\n'
    path.write_text(path.read_text() + data_section(data_root, root / f"{name}-inbox") + evidence)
    return path


async def _offer(m: Management, asset: str, path: str) -> None:
    await m.call(
        "POST",
        "/v1/assets",
        {
            "id": asset,
            "title": asset,
            "source": {"type": "file", "path": path},
            "mediaType": "text/csv",
            "formats": ["HttpData-PULL"],
        },
        201,
    )
    await m.call("POST", "/v1/policies", {"id": f"{asset}-use", "policy": {"permission": [{"action": "use"}]}}, 201)
    await m.call(
        "POST", "/v1/offers", {"id": f"{asset}-offer", "assetId": asset, "contractPolicyId": f"{asset}-use"}, 201
    )


async def run_exchange(root: Path) -> Exchange:
    federation = make_federation(root, "Test Federation")
    provider = credentialed(federation, root, "provider")
    consumer = credentialed(federation, root, "consumer", country="JP")
    pcfg = _configure(federation, provider, root, "provider")
    ccfg = _configure(federation, consumer, root, "consumer")
    (root / "provider-data" / "weather.csv").write_bytes(DATA)
    trust_list = root / "auditor" / "test-federation.trust-list.jws"
    ran = await acli("pki", "trust-list", "--authority", str(federation.authority.dir), "--out", str(trust_list))
    assert ran.returncode == 0, ran.stderr
    await federation.start()
    try:
        async with running_node(pcfg), running_node(ccfg):
            pair = Pair(provider, consumer, pcfg, ccfg, root / "provider-data", root / "consumer-inbox", root)
            pm, cm = pair.pm, pair.cm
            await _offer(pm, "weather", "weather.csv")
            await _offer(pm, "tides", "weather.csv")
            neg = await cm.negotiate(provider, "weather-offer", "weather")
            assert neg["state"] == "FINALIZED", neg
            other = await cm.negotiate(provider, "tides-offer", "tides")
            assert other["state"] == "FINALIZED", other
            tp = await started(pair, neg["agreementId"])
            body, seal, _ = await pull_all(pair, tp["id"])
            verdict = await settle(pair, tp["id"], body, seal)
            assert verdict["verified"] is True, verdict
            done = await cm.call("POST", f"/v1/transfers/{tp['id']}/complete", None, 200)
            await wait_state(pm, done["providerPid"], "COMPLETED")
            exchange = Exchange(
                root,
                federation,
                provider,
                consumer,
                pcfg,
                ccfg,
                trust_list,
                neg["agreementId"],
                other["agreementId"],
                tp["id"],
            )
            exchange.live["signatures"] = {
                "consumer": await cm.call("GET", f"/v1/evidence/agreements/{neg['agreementId']}/signatures"),
                "provider": await pm.call("GET", f"/v1/evidence/agreements/{neg['agreementId']}/signatures"),
            }
            exchange.live["checkpoint"] = await acli("evidence", "checkpoint", "--config", str(ccfg))
            out = root / "exports"
            exchange.live["export"] = await acli(
                "evidence",
                "export",
                neg["agreementId"],
                "--out",
                str(out / "consumer.bundle.json"),
                "--config",
                str(ccfg),
            )
            exchange.bundles["consumer"] = out / "consumer.bundle.json"
            for extra in ((), ("--overwrite",)):  # the same file again: kept, unless it is to be replaced
                again = ("evidence", "export", neg["agreementId"], "--out", str(exchange.bundles["consumer"]), *extra)
                exchange.live[f"export again{''.join(extra)}"] = await acli(*again, "--config", str(ccfg))
            for name, m, agreement in (("provider", pm, neg["agreementId"]), ("other", cm, other["agreementId"])):
                document = await m.call("GET", f"/v1/evidence/agreements/{agreement}/bundle", None, 200)
                exchange.bundles[name] = out / f"{name}.bundle.json"
                exchange.bundles[name].write_text(json.dumps(document, indent=2))
            exchange.live["check"] = await acli("evidence", "check", "--config", str(ccfg))
            exchange.live["status"] = await cm.call("GET", "/v1/evidence", None, 200)
            exchange.live["openapi"] = await cm.call("GET", "/v1/openapi.json", None, 200)
    finally:
        await federation.stop()
    return exchange


# --- tampering ----------------------------------------------------------------------------------------------


def edited(document: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(document)


def flip(text: str, index: int) -> str:
    """`text` with one character changed (to another character of the same alphabet where possible)."""
    c = text[index]
    alphabet = "0123456789abcdef" if c in "0123456789abcdef" else "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    replacement = next(a for a in alphabet if a != c)
    return text[:index] + replacement + text[index + 1 :]


def open_store(path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def fresh_db() -> SqliteTx:
    """A transaction handle on an in-memory store with every migration applied, as a node's store starts (the
    caller begins and ends transactions with plain statements)."""
    conn = connect(":memory:")
    migrate(conn)
    return SqliteTx(conn)


class Clock:
    """A clock for records written in a test: each reading is `step` after the one before."""

    def __init__(self, step: timedelta = timedelta(milliseconds=1)) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


def drop_triggers(conn: sqlite3.Connection) -> None:
    """What someone editing the file behind the node's back does first."""
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f'DROP TRIGGER "{name}"')
