"""`connector catalog | negotiate | negotiations | agreements | transfers`: the consumer's day-to-day commands."""

from __future__ import annotations

import argparse
from typing import Any

from connector.cli.base import Refused, Unreachable
from connector.cli.client import (
    ManagementClient,
    add_config_argument,
    add_json_argument,
    add_paging_arguments,
    client_from,
    emit_json,
    page_note,
    peer_body,
    run,
    seconds,
    short,
    table,
)

# The protocol's states (connector.dsp.vocabulary; a test keeps these in step), spelled out here so that
# building the parser does not load the protocol package.
NEGOTIATION_STATES = ("REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED", "FINALIZED", "TERMINATED")
TRANSFER_STATES = ("REQUESTED", "STARTED", "SUSPENDED", "COMPLETED", "TERMINATED")
ROLES = ("provider", "consumer")


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
    neg.add_argument("--timeout", type=seconds, default=60.0, help="seconds to wait for FINALIZED or TERMINATED")
    add_config_argument(neg)
    add_json_argument(neg)
    neg.set_defaults(func=cmd_negotiate)

    negs = sub.add_parser("negotiations", help="list negotiations, or show one with its history")
    negs.add_argument("id", nargs="?", help="a negotiation id: show it with its history")
    _filters(negs, NEGOTIATION_STATES)
    negs.set_defaults(func=cmd_negotiations)

    agr = sub.add_parser("agreements", help="list contract agreements, or show one with its policy")
    agr.add_argument("id", nargs="?", help="an agreement id: show it with its policy")
    add_paging_arguments(agr)
    add_config_argument(agr)
    add_json_argument(agr)
    agr.set_defaults(func=cmd_agreements)

    tps = sub.add_parser("transfers", help="list transfers, or show one with its history")
    tps.add_argument("id", nargs="?", help="a transfer id: show it with its history")
    _filters(tps, TRANSFER_STATES)
    tps.add_argument("--agreement", dest="agreement_id", help="only transfers under this agreement")
    tps.set_defaults(func=cmd_transfers)


def _state(states: tuple[str, ...]) -> Any:
    def parse(text: str) -> str:
        if text.upper() not in states:
            raise argparse.ArgumentTypeError(f"unknown state '{text}' (the states are {', '.join(states)})")
        return text.upper()

    return parse


def _filters(parser: argparse.ArgumentParser, states: tuple[str, ...]) -> None:
    parser.add_argument(
        "--state", type=_state(states), choices=states, metavar="STATE", help=f"only this state: {', '.join(states)}"
    )
    parser.add_argument("--role", choices=ROLES, help="only where this node is the provider, or the consumer")
    add_paging_arguments(parser)
    add_config_argument(parser)
    add_json_argument(parser)


def offer_terms(offer: dict[str, Any]) -> str:
    from connector.policy.vocabulary import normalise_name
    from connector.policy.words import constraint_words

    parts = []
    for kind in ("permission", "prohibition", "obligation"):
        for rule in offer.get(kind) or []:
            action = rule.get("action")
            action = action.get("@id", action) if isinstance(action, dict) else action
            if isinstance(action, str):
                action = normalise_name(action)
            constraints = [c for c in rule.get("constraint") or []]
            text = f"{kind[:4]} {action}"
            if constraints:
                text += " if " + " and ".join(constraint_words(c) for c in constraints)
            parts.append(text)
    return "; ".join(parts)


def cmd_catalog(args: argparse.Namespace) -> int:
    client = client_from(args)
    body = peer_body(args.peer)
    if args.counter_party_id:
        body["counterPartyId"] = args.counter_party_id
    result = run(client.call, "POST", "/v1/catalog/request", body)
    if args.json:
        emit_json(result)
        return 0
    count = len(result["datasets"])
    offered = "" if count else " (the peer offers nothing to this node)"
    print(f"catalogue of {result['participantId']} ({result['address']}): {count} dataset(s){offered}")
    rows = []
    for ds in result["datasets"]:
        for offer in ds["offers"] or [{}]:
            rows.append(
                [
                    ds["id"],
                    short(ds.get("title") or "", 30),
                    offer.get("@id", ""),
                    short(offer_terms(offer), 60),
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
        return await concluded(client, started["id"], args.timeout)

    neg = run(go)
    if args.json:
        emit_json(neg)
    else:
        print(f"FINALIZED: agreement {neg['agreementId']} (negotiation {neg['id']})")
    return 0


async def concluded(client: ManagementClient, negotiation_id: str, timeout: float) -> dict[str, Any]:
    """The negotiation once it is FINALIZED, waited for at most `timeout` seconds; ended TERMINATED or still under
    way by then, a failure (`negotiate` and `fetch` wait for it alike)."""
    from urllib.parse import quote

    from connector.pull.waiting import wait_for_state

    path = f"/v1/negotiations/{quote(negotiation_id, safe='')}"
    neg: dict[str, Any] = await wait_for_state(client.call, path, ("FINALIZED", "TERMINATED"), timeout)
    _check_concluded(neg, timeout)
    return neg


def _check_concluded(neg: dict[str, Any], timeout: float) -> None:
    """A negotiation that did not end FINALIZED is a refusal (TERMINATED) or an answer that has not come yet."""
    if neg["state"] == "TERMINATED":
        raise Refused(
            "negotiation.terminated",
            f"the negotiation ended TERMINATED: {neg.get('reason') or 'no reason given'} (negotiation {neg['id']})",
        )
    if neg["state"] != "FINALIZED":
        raise Unreachable(
            "negotiation.pending",
            f"the negotiation is still {neg['state']} after {timeout:g} s; the node carries on: "
            f"see 'connector negotiations {neg['id']}'",
        )


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


def _query(args: argparse.Namespace, **filters: str | None) -> str:
    from urllib.parse import urlencode

    params = {"limit": args.limit, "offset": args.offset, **{k: v for k, v in filters.items() if v}}
    return "?" + urlencode(params)


def _list(args: argparse.Namespace, kind: str, columns: list[tuple[str, str]], **filters: str | None) -> int:
    from urllib.parse import quote

    client = client_from(args)
    if args.id:
        record = run(client.call, "GET", f"/v1/{kind}/{quote(args.id, safe='')}")
        emit_json(record) if args.json else _show(record)
        return 0
    page = run(client.call, "GET", f"/v1/{kind}{_query(args, **filters)}")
    if args.json:
        emit_json(page)
        return 0
    print_page(page, columns)
    return 0


def print_page(page: dict[str, Any], columns: list[tuple[str, str]]) -> None:
    # Identifiers in full (they are what the next command takes); other cells cut to keep the table readable.
    rows = [
        [str(item.get(key) or "") if key in FULL_WIDTH else short(item.get(key), 44) for key, _ in columns]
        for item in page["items"]
    ]
    print(table(rows, [title for _, title in columns]))
    note = page_note(page, len(rows))
    if note:
        print(note)


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
            ("agreementId", "AGREEMENT"),
            ("reason", "REASON"),
        ],
        state=args.state,
        role=args.role,
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
        state=args.state,
        role=args.role,
        agreementId=args.agreement_id,
    )


def cmd_agreements(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    client = client_from(args)
    me = client.config.node.participant_id
    if args.id:
        agreement = run(client.call, "GET", f"/v1/agreements/{quote(args.id, safe='')}")
        if args.json:
            emit_json(agreement)
            return 0
        for key in ("id", "negotiationId", "providerId", "consumerId", "datasetId", "concludedAt", "finalized"):
            print(f"{key:15} {agreement.get(key)}")
        print(f"{'policy':15} {offer_terms(agreement.get('policy') or {}) or '(no rules)'}")
        return 0
    page = run(client.call, "GET", f"/v1/agreements{_query(args)}")
    if args.json:
        emit_json(page)
        return 0
    for item in page["items"]:
        provider = item.get("providerId") == me
        item["role"] = "provider" if provider else "consumer"
        item["peer"] = item.get("consumerId") if provider else item.get("providerId")
        item["concluded"] = (item.get("concludedAt") or "")[:19]
        item["terms"] = offer_terms(item.get("policy") or {})
    print_page(
        page,
        [
            ("id", "ID"),
            ("role", "ROLE"),
            ("peer", "PEER"),
            ("datasetId", "DATASET"),
            ("concluded", "CONCLUDED"),
            ("terms", "TERMS"),
        ],
    )
    return 0
