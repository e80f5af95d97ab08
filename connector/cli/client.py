"""Commands that drive a running node through its management API (`--config FILE` says which node).

The configuration gives the management address and API key. Every problem the node answers with (a code and a
reason) becomes a NodeError whose exit status follows what it means: a mistake in what was asked (2), a refusal
by the peer or the node (1), a peer or node that cannot be reached or cannot answer now (3).

aiohttp and the configuration are imported when a command first talks to a node, not when the parser is built.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.cli.base import EXIT_FAILED, EXIT_UNREACHABLE, Unreachable, emit_json, exit_status
from connector.errors import ConnectorError, UsageError

if TYPE_CHECKING:
    from connector.config import Config

__all__ = ["emit_json"]

PAGE = 500  # the largest page the management API serves


class NodeError(ConnectorError):
    """The node answered with a problem (`status` is the HTTP status it answered with)."""

    def __init__(self, code: str, reason: str, where: str | None = None, status: int = 400) -> None:
        super().__init__(code, reason, where)
        self.status = status

    @property
    def exit_status(self) -> int:
        """A peer that cannot be reached, or a node or peer that cannot answer now: 3. A refusal (the peer's, a
        policy's, a seal that does not verify) or a failure of the node: 1. Anything else the node rejects is a
        mistake in what it was asked (a malformed request, an unknown id): 2."""
        if self.code in ("peer.unreachable", "peer.unavailable") or self.status in (503, 504):
            return EXIT_UNREACHABLE
        if self.status >= 500:
            return EXIT_FAILED
        return exit_status(ConnectorError(self.code, self.reason))


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("CONNECTOR_CONFIG"),
        metavar="FILE",
        help="configuration of the node (default: $CONNECTOR_CONFIG)",
    )


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON (errors too)")


def add_out_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """--out FILE (`what` says what is written there) and --overwrite: an existing FILE is kept unless it is given."""
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help=what)
    parser.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")


def out_file(args: argparse.Namespace, folder_made: bool = False) -> Path:
    """--out, once it is known to name a file that may be written: checked before anything is asked of a node or
    read from a store. `folder_made`: the command makes a missing folder itself."""
    out = Path(args.out).expanduser().absolute()
    if not folder_made and not out.parent.is_dir():
        raise UsageError("cli.no_folder", f"the folder of {out} does not exist", "--out")
    if out.is_dir():
        raise UsageError("cli.out_folder", f"{out} is a folder; --out names the file to write", "--out")
    if out.exists() and not args.overwrite:
        raise UsageError("cli.exists", f"{out} already exists (use --overwrite to replace it)", "--out")
    return out


def add_paging_arguments(parser: argparse.ArgumentParser, default_limit: int = 50) -> None:
    parser.add_argument("--limit", type=_count(1, PAGE), default=default_limit, help=f"at most this many (1-{PAGE})")
    parser.add_argument("--offset", type=_count(0, 10**9), default=0, help="skip this many first (the next page)")


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


def seconds(text: str) -> float:
    """A duration given on the command line: a number of seconds, 0 or more (argparse names the option)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"'{text}' is not 0 or more seconds")
    return value


class ManagementClient:
    def __init__(self, config: Config) -> None:
        management = config.management
        listen = management.listen
        host = "127.0.0.1" if listen.host in ("0.0.0.0", "::") else listen.host
        host = f"[{host}]" if ":" in host else host
        self.tls_cert = management.tls_cert if management.tls_key is not None else None
        self.base = f"{'https' if self.tls_cert is not None else 'http'}://{host}:{listen.port}"
        self.api_key = config.management_api_key()
        self.config = config

    def ssl(self) -> Any:
        """How to connect: over HTTPS, pinned to the node's own management certificate (which need not name the
        address reached from this machine), as the console does it."""
        if self.tls_cert is None:
            return True
        import aiohttp

        from connector import keys

        return aiohttp.Fingerprint(bytes.fromhex(keys.cert_sha256(keys.load_certificate(self.tls_cert))))

    async def call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        import json

        import aiohttp

        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
                async with session.request(
                    method, self.base + path, json=body, headers={"X-Api-Key": self.api_key}, ssl=self.ssl()
                ) as resp:
                    text = await resp.text()
                    try:
                        data = json.loads(text) if text else None
                    except ValueError:
                        data = None
                    if resp.status == 401:
                        raise NodeError(
                            "auth.api_key",
                            f"the node at {self.base} does not accept the API key of this configuration "
                            "(management.api_key or management.api_key_file)",
                            "management.api_key",
                            resp.status,
                        )
                    if resp.status >= 400:
                        problem = data if isinstance(data, dict) else {}
                        raise NodeError(
                            str(problem.get("code") or f"http.{resp.status}"),
                            str(problem.get("detail") or text[:300] or f"HTTP {resp.status}"),
                            problem.get("where"),
                            resp.status,
                        )
                    return data
        except aiohttp.ClientConnectionError:
            raise Unreachable(
                "cli.node_down",
                f"no node answers at {self.base} (is 'connector serve' running with this configuration?)",
                "management.listen",
            ) from None
        except TimeoutError:
            raise Unreachable("cli.timeout", f"the node at {self.base} did not answer in time") from None

    async def every(self, path: str, query: str = "") -> list[Any]:
        """Every item of a paginated list, in the node's order (newest first)."""
        items: list[Any] = []
        offset = 0
        while True:
            page = await self.call("GET", f"{path}?limit={PAGE}&offset={offset}{query}")
            items += page["items"]
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return items


def load(args: argparse.Namespace) -> Config:
    """The configuration named by --config (or $CONNECTOR_CONFIG)."""
    from connector.config import load_config

    if args.config is None:
        raise UsageError(
            "cli.no_config", "name the node's configuration: --config FILE (or set CONNECTOR_CONFIG)", "--config"
        )
    return load_config(args.config)


def client_from(args: argparse.Namespace) -> ManagementClient:
    return ManagementClient(load(args))


def peer_body(peer: str) -> dict[str, str]:
    """A peer given on the command line: a name from the configuration, or a DSP URL."""
    if peer.startswith(("https://", "http://")):
        return {"counterPartyAddress": peer}
    return {"peer": peer}


def run(coro_fn: Callable[..., Any], *args: Any) -> Any:
    import asyncio

    return asyncio.run(coro_fn(*args))


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def page_note(page: dict[str, Any], shown: int) -> str | None:
    """A line saying which part of a longer list was shown, and how to see the next part."""
    total, offset = page["total"], page.get("offset", 0)
    if shown >= total and offset == 0:
        return None
    if shown == 0:
        return f"(nothing at offset {offset}; {total} in all)"
    last = offset + shown
    more = f"; next: --offset {last}" if last < total else ""
    return f"({offset + 1}-{last} of {total}{more})"


def short(value: Any, width: int = 40) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def stderr(text: str) -> None:
    print(text, file=sys.stderr)
