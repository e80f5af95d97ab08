"""`connector health`: how a running node is, as its health probe says (for people, and for container health
checks: the image's HEALTHCHECK runs it).

Exit status 0 when the node answers that it is healthy, 1 when it answers that it is degraded (its store failing,
not ready yet), 3 when nothing answers on its management listener.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from connector.cli.base import EXIT_FAILED, EXIT_OK, Unreachable
from connector.cli.client import (
    ManagementClient,
    add_config_argument,
    add_json_argument,
    client_from,
    emit_json,
    run,
)

TIMEOUT = 5.0


def register(sub: argparse._SubParsersAction) -> None:
    health = sub.add_parser("health", help="ask a running node how it is (exit 0 healthy, 1 degraded, 3 not answering)")
    add_config_argument(health)
    add_json_argument(health)
    health.add_argument("--quiet", action="store_true", help="print nothing; the exit status says it all")
    health.set_defaults(func=cmd_health)


async def _probe(client: ManagementClient) -> tuple[int, Any]:
    import aiohttp

    base = client.base
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
            async with session.get(base + "/check/health", ssl=client.ssl()) as resp:
                text = await resp.text()
                try:
                    return resp.status, json.loads(text)
                except ValueError:
                    return resp.status, {"status": "unknown", "answer": text[:200]}
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unreachable("cli.node_down", f"no node answers at {base}: {exc or type(exc).__name__}") from None


def cmd_health(args: argparse.Namespace) -> int:
    client = client_from(args)
    status, body = run(_probe, client)
    healthy = status == 200 and isinstance(body, dict) and body.get("status") == "ok"
    if args.json:
        emit_json(body)
    elif not args.quiet:
        checks = body.get("checks", {}) if isinstance(body, dict) else {}
        detail = ", ".join(f"{k} {_check_words(v)}" for k, v in checks.items())
        state = body.get("status", "unknown") if isinstance(body, dict) else "unknown"
        print(f"{state}: {body.get('participantId', '') if isinstance(body, dict) else ''} ({detail})".strip())
    return EXIT_OK if healthy else EXIT_FAILED


def _check_words(value: object) -> str:
    """One check of the probe in a few words: its state, the listeners, or the trust material needing attention."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # trustMaterial: {"ok": ..., "attention": [...]}, each with its state
        states: dict[str, int] = {}
        for item in value.get("attention") or []:
            named = str(item.get("state") or "needing attention") if isinstance(item, dict) else "needing attention"
            states[named] = states.get(named, 0) + 1
        counted = ", ".join(f"{n} {state}" for state, n in states.items())
        return ("ok" if value.get("ok") else "failing") + (f" ({counted})" if counted else "")
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)
