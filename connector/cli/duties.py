"""`connector duties AGREEMENT_ID [--fetch]` and `connector received`: usage duties and their fulfilment.

`duties` shows what an agreement obliges the consumer to do with the data (delete it by a time, inform the
provider of each use, no onward transfer), the data received under it (where it went, when it is due for
deletion, how the deletion ended) and the signed fulfilment receipts this node holds; as provider, `--fetch` first
asks the consumer for every receipt of the agreement and records those that verify. `received` lists the data
this node received as consumer, with its duties.
"""

from __future__ import annotations

import argparse
from typing import Any

from connector.cli.client import (
    add_config_argument,
    add_json_argument,
    add_paging_arguments,
    client_from,
    emit_json,
    page_note,
    run,
)


def register(sub: argparse._SubParsersAction) -> None:
    duties = sub.add_parser("duties", help="an agreement's usage duties, the data received under it, its receipts")
    duties.add_argument("agreement_id", metavar="AGREEMENT_ID")
    duties.add_argument(
        "--fetch", action="store_true", help="as provider: ask the consumer for the agreement's receipts first"
    )
    add_config_argument(duties)
    add_json_argument(duties)
    duties.set_defaults(func=cmd_duties)

    received = sub.add_parser("received", help="the data received as consumer, with its duties")
    received.add_argument("--agreement", dest="agreement_id", help="only data received under this agreement")
    add_paging_arguments(received)
    add_config_argument(received)
    add_json_argument(received)
    received.set_defaults(func=cmd_received)


def cmd_duties(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    client = client_from(args)
    path = f"/v1/agreements/{quote(args.agreement_id, safe='')}/duties"
    view = run(client.call, "POST" if args.fetch else "GET", path)
    if args.json:
        emit_json(view)
        return 0
    owed = view["duties"].get("owed") or []
    print(f"agreement {view['agreementId']} (this node is its {view['role']})")
    print("duties: " + ("; ".join(owed) if owed else "none"))
    fetched = view.get("fetched")
    if fetched:
        print(
            f"asked {fetched['asked']}: {fetched['received']} receipt(s), {fetched['new']} new"
            + "".join(f"\n  refused: {reason}" for reason in fetched["refused"])
        )
    for item in view["received"]:
        print(_received_line(item))
    for receipt in view["receipts"]:
        delivery = f" [{receipt['delivery']}]" if receipt.get("delivery") else ""
        print(f"receipt ({receipt['direction']}): {receipt['statement']}{delivery}")
    if not view["received"] and not view["receipts"]:
        print("no data received and no receipt held under it yet")
    return 0


def _received_line(item: dict[str, Any]) -> str:
    where = item.get("file") or "(no copy known)"
    if item.get("deletedAt"):
        fate = f", deleted at {item['deletedAt'][:19]} ({item['deletion']})"
    elif item.get("deleteDueAt"):
        fate = f", to be deleted by {item['deleteDueAt'][:19]}"
    else:
        fate = ""
    onward = ", never to be offered onward" if item.get("noOnwardTransfer") else ""
    return f"received {item['size']} bytes at {item['receivedAt'][:19]} into {where}{fate}{onward}"


def cmd_received(args: argparse.Namespace) -> int:
    from urllib.parse import urlencode

    client = client_from(args)
    query = {"limit": args.limit, "offset": args.offset}
    if args.agreement_id:
        query["agreementId"] = args.agreement_id
    page = run(client.call, "GET", "/v1/received?" + urlencode(query))
    if args.json:
        emit_json(page)
        return 0
    for item in page["items"]:
        print(f"{item['agreementId']}  {item['transferId']}")
        print("  " + _received_line(item))
    note = page_note(page, len(page["items"]))
    if page["total"] == 0:
        under = f" under agreement {args.agreement_id}" if args.agreement_id else " yet"
        print(f"no data received{under}")
    elif note:
        print(note)
    return 0


__all__ = ["register"]
