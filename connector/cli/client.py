"""Commands that drive a running node through its management API (`--config FILE` says which node).

The configuration gives the management address and API key; every failure the node reports (a problem with a
code and a reason) is shown as one line, exit status 2 for usage and configuration errors, 1 when the node
answered "no".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from connector.config import Config, load_config
from connector.errors import ConnectorError, UsageError


class NodeError(ConnectorError):
    """The node answered with a problem (`status` is the HTTP status it answered with)."""

    def __init__(self, code: str, reason: str, where: str | None = None, status: int = 400) -> None:
        super().__init__(code, reason, where)
        self.status = status

    @property
    def is_usage(self) -> bool:
        """Something the user gave was wrong (exit 2: a malformed request, an unknown id); a peer that refused
        or failed (5xx from our node, peer.* and policy.* codes) is an answer "no" (exit 1)."""
        return self.status < 500 and not self.code.startswith(("peer.", "policy."))


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("CONNECTOR_CONFIG"),
        help="configuration of the node to talk to (default: $CONNECTOR_CONFIG)",
    )


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


class ManagementClient:
    def __init__(self, config: Config) -> None:
        listen = config.management.listen
        host = "127.0.0.1" if listen.host in ("0.0.0.0", "::") else listen.host
        self.base = f"http://{host}:{listen.port}"
        self.api_key = config.management_api_key()
        self.config = config

    async def call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
                async with session.request(
                    method, self.base + path, json=body, headers={"X-Api-Key": self.api_key}
                ) as resp:
                    text = await resp.text()
                    data = json.loads(text) if text else None
                    if resp.status >= 400:
                        problem = data if isinstance(data, dict) else {}
                        raise NodeError(
                            problem.get("code", f"http.{resp.status}"),
                            problem.get("detail") or text[:300] or f"HTTP {resp.status}",
                            problem.get("where"),
                            resp.status,
                        )
                    return data
        except aiohttp.ClientConnectionError:
            raise ConnectorError(
                "cli.node_down",
                f"no node answers at {self.base} (is 'connector serve' running with this configuration?)",
                "management.listen",
            ) from None
        except TimeoutError:
            raise ConnectorError("cli.timeout", f"the node at {self.base} did not answer in time") from None


def client_from(args: argparse.Namespace) -> ManagementClient:
    if args.config is None:
        raise UsageError(
            "cli.no_config", "say which node to talk to: --config FILE (or set CONNECTOR_CONFIG)", "--config"
        )
    return ManagementClient(load_config(args.config))


def peer_body(peer: str) -> dict[str, str]:
    """A peer given on the command line: a name from the configuration, or a DSP URL."""
    if peer.startswith(("https://", "http://")):
        return {"counterPartyAddress": peer}
    return {"peer": peer}


def run(coro_fn: Callable[..., Any], *args: Any) -> Any:
    return asyncio.run(coro_fn(*args))


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def short(value: Any, width: int = 40) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
