"""`connector catalog | negotiate | negotiations | transfers`: the consumer's day-to-day commands."""

from __future__ import annotations

import argparse
import json
from typing import Any

from connector.cli.base import EXIT_FAILED
from connector.cli.client import (
    add_config_argument,
    add_json_argument,
    client_from,
    emit_json,
    peer_body,
    run,
    short,
    table,
)


def register(sub: argparse._SubParsersAction) -> None:
    cat = sub.add_parser("catalog", help="show a peer's datasets and offers")
    cat.add_argument("peer", metavar="PEER", help="a peer name from the configuration, or its DSP URL")
    cat.add_argument("--id", dest="counter_party_id", help="the peer's participant id (checked if given)")
    add_config_argument(cat)
    add_json_argument(cat)
    cat.set_defaults(func=cmd_catalog)

    neg = sub.add_parser("negotiate", help="negotiate a contract for an offer and wait for the outcome")
    neg.add_argument("peer", metavar="PEER", help="a peer name from the configuration, or its DSP URL")
    neg.add_argument("offer_id", metavar="OFFER_ID", help="the offer's id, as the catalogue shows it")
    neg.add_argument("--dataset", help="the dataset the offer belongs to (found in the catalogue otherwise)")
    neg.add_argument("--id", dest="counter_party_id", help="the peer's participant id")
    neg.add_argument("--purpose", help="the purpose you declare for using the data")
    neg.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for FINALIZED or TERMINATED")
    add_config_argument(neg)
    add_json_argument(neg)
    neg.set_defaults(func=cmd_negotiate)

    negs = sub.add_parser("negotiations", help="list negotiations, or show one with its history")
    negs.add_argument("id", nargs="?", help="a negotiation id: show it with its history")
    negs.add_argument("--state", help="only this state (e.g. TERMINATED)")
    negs.add_argument("--limit", type=int, default=50)
    add_config_argument(negs)
    add_json_argument(negs)
    negs.set_defaults(func=cmd_negotiations)

    tps = sub.add_parser("transfers", help="list transfers, or show one with its history")
    tps.add_argument("id", nargs="?", help="a transfer id: show it with its history")
    tps.add_argument("--state", help="only this state (e.g. STARTED)")
    tps.add_argument("--limit", type=int, default=50)
    add_config_argument(tps)
    add_json_argument(tps)
    tps.set_defaults(func=cmd_transfers)


def _offer_terms(offer: dict[str, Any]) -> str:
    parts = []
    for kind in ("permission", "prohibition", "obligation"):
        for rule in offer.get(kind) or []:
            action = rule.get("action")
            action = action.get("@id", action) if isinstance(action, dict) else action
            constraints = [c for c in rule.get("constraint") or []]
            text = f"{kind[:4]} {action}"
            if constraints:
                text += " if " + " and ".join(_constraint_text(c) for c in constraints)
            parts.append(text)
    return "; ".join(parts)


def _constraint_text(c: dict[str, Any]) -> str:
    for op in ("and", "or", "xone", "andSequence"):
        if op in c:
            return "(" + f" {op} ".join(_constraint_text(x) for x in c[op]) + ")"
    right = c.get("rightOperand")
    right = ",".join(map(str, right)) if isinstance(right, list) else right
    return f"{c.get('leftOperand')} {c.get('operator')} {right}"


def cmd_catalog(args: argparse.Namespace) -> int:
    client = client_from(args)
    body = peer_body(args.peer)
    if args.counter_party_id:
        body["counterPartyId"] = args.counter_party_id
    result = run(client.call, "POST", "/v1/catalog/request", body)
    if args.json:
        emit_json(result)
        return 0
    print(f"catalogue of {result['participantId']} ({result['address']}): {len(result['datasets'])} dataset(s)")
    rows = []
    for ds in result["datasets"]:
        for offer in ds["offers"] or [{}]:
            rows.append(
                [
                    ds["id"],
                    short(ds.get("title") or "", 30),
                    offer.get("@id", ""),
                    short(_offer_terms(offer), 60),
                    ",".join(ds["formats"]),
                ]
            )
    if rows:
        print(table(rows, ["DATASET", "TITLE", "OFFER", "TERMS", "FORMATS"]))
    return 0


def cmd_negotiate(args: argparse.Namespace) -> int:
    client = client_from(args)
    body: dict[str, Any] = {**peer_body(args.peer), "offerId": args.offer_id}
    for key, value in (
        ("datasetId", args.dataset),
        ("counterPartyId", args.counter_party_id),
        ("purpose", args.purpose),
    ):
        if value:
            body[key] = value

    async def go() -> dict[str, Any]:
        started = await client.call("POST", "/v1/negotiations", body)
        return await client.call(
            "GET",
            f"/v1/negotiations/{started['id']}?wait=FINALIZED,TERMINATED&timeout={args.timeout}",
            timeout=args.timeout + 10,
        )

    neg = run(go)
    if args.json:
        emit_json(neg)
    elif neg["state"] == "FINALIZED":
        print(f"FINALIZED: agreement {neg['agreementId']} (negotiation {neg['id']})")
    elif neg["state"] == "TERMINATED":
        print(f"TERMINATED: {neg.get('reason') or 'no reason given'} (negotiation {neg['id']})")
    else:
        print(
            f"still {neg['state']} after {args.timeout:g}s (negotiation {neg['id']}); "
            f"see 'connector negotiations {neg['id']}'"
        )
    return 0 if neg["state"] == "FINALIZED" else EXIT_FAILED


def _show(record: dict[str, Any]) -> None:
    for key in ("id", "role", "state", "counterPartyId", "datasetId", "agreementId", "format", "reason", "pendingStep"):
        if record.get(key):
            print(f"{key:15} {record[key]}")
    print("history:")
    for h in record.get("history", []):
        move = f"{h['from'] or '-'} -> {h['to']}" if h["from"] != h["to"] else f"({h['to']})"
        reason = f": {h['reason']}" if h.get("reason") else ""
        print(f"  {h['seq']:3} {h['at'][11:23]}  {move:28} {h['cause']}{reason}")


FULL_WIDTH = frozenset({"id", "agreementId"})


def _list(args: argparse.Namespace, kind: str, columns: list[tuple[str, str]]) -> int:
    client = client_from(args)
    if args.id:
        record = run(client.call, "GET", f"/v1/{kind}/{args.id}")
        emit_json(record) if args.json else _show(record)
        return 0
    query = f"?limit={args.limit}" + (f"&state={args.state}" if args.state else "")
    page = run(client.call, "GET", f"/v1/{kind}{query}")
    if args.json:
        emit_json(page)
        return 0
    # Identifiers in full (they are what the next command takes); other cells cut to keep the table readable.
    rows = [
        [str(item.get(key) or "") if key in FULL_WIDTH else short(item.get(key), 44) for key, _ in columns]
        for item in page["items"]
    ]
    print(table(rows, [title for _, title in columns]))
    if page["total"] > len(rows):
        print(f"({len(rows)} of {page['total']}; use --limit)")
    return 0


def cmd_negotiations(args: argparse.Namespace) -> int:
    return _list(
        args,
        "negotiations",
        [
            ("id", "ID"),
            ("role", "ROLE"),
            ("state", "STATE"),
            ("counterPartyId", "PEER"),
            ("datasetId", "DATASET"),
            ("reason", "REASON"),
        ],
    )


def cmd_transfers(args: argparse.Namespace) -> int:
    return _list(
        args,
        "transfers",
        [
            ("id", "ID"),
            ("role", "ROLE"),
            ("state", "STATE"),
            ("agreementId", "AGREEMENT"),
            ("format", "FORMAT"),
            ("reason", "REASON"),
        ],
    )


__all__ = ["register", "json"]
