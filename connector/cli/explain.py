"""`connector explain ID`: why a negotiation or transfer is where it is, in words.

Shows the process, then every decision taken on it (contract policy, agreement check, transfer-time policy)
with the trace the policy engine recorded: each rule, each constraint, the value seen, where that value came
from, and the outcome.
"""

from __future__ import annotations

import argparse
from typing import Any

from connector.cli.client import NodeError, add_config_argument, add_json_argument, client_from, emit_json, run


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("explain", help="explain the decisions taken on a negotiation or transfer")
    parser.add_argument("id", metavar="ID", help="a negotiation or transfer id")
    add_config_argument(parser)
    add_json_argument(parser)
    parser.set_defaults(func=cmd_explain)


async def _fetch(client: Any, pid: str) -> tuple[str, dict[str, Any]]:
    for kind in ("negotiations", "transfers"):
        try:
            return kind[:-1], await client.call("GET", f"/v1/{kind}/{pid}")
        except NodeError as exc:
            if not exc.code.endswith("not_found"):
                raise
    raise NodeError("process.not_found", f"no negotiation or transfer '{pid}' on this node", "ID")


def cmd_explain(args: argparse.Namespace) -> int:
    client = client_from(args)
    kind, record = run(_fetch, client, args.id)
    if args.json:
        emit_json({"kind": kind, **record})
        return 0
    print(f"{kind} {record['id']} ({record['role']}) with {record['counterPartyId']}: {record['state']}")
    if record.get("reason"):
        print(f"reason: {record['reason']}")
    decisions = [
        h
        for h in record.get("history", [])
        if h.get("detail") and ("explanation" in h["detail"] or "differences" in h["detail"] or "trace" in h["detail"])
    ]
    if not decisions:
        print("no policy decision was recorded on this process")
    for h in decisions:
        detail = h["detail"]
        print(f"\n[{h['at'][:19]}] {h['cause']}: {h.get('reason') or ''}")
        if detail.get("explanation"):
            for line in detail["explanation"].splitlines():
                print(f"  {line}")
        for difference in detail.get("differences") or []:
            print(f"  - {difference}")
    print("\nhistory:")
    for h in record.get("history", []):
        move = f"{h['from'] or '-'} -> {h['to']}" if h["from"] != h["to"] else f"({h['to']})"
        reason = f": {h['reason']}" if h.get("reason") else ""
        print(f"  {h['at'][11:23]}  {move:26} {h['cause']}{reason}")
    return 0
