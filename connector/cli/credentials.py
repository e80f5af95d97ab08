"""`connector credentials list | request | requests`: the credentials a node presents, and asking issuers for them.

`request` asks the node (its management API) to send a DCP CredentialRequestMessage to an issuer service; the
issuer delivers the credentials to the node's credential service once it approves, and `--wait` waits for that.
"""

from __future__ import annotations

import argparse
from typing import Any

from connector.cli.base import Refused, Unreachable, subcommands
from connector.cli.client import (
    add_config_argument,
    add_json_argument,
    client_from,
    emit_json,
    run,
    short,
    table,
)
from connector.errors import UsageError

# Short names the command line also accepts for the credential types this project's authorities issue.
ALIASES = {"membership": "MembershipCredential", "organization": "OrganizationCredential"}
SETTLED = ("ISSUED", "REJECTED")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("credentials", help="the credentials the node presents; ask an issuer for credentials")
    actions = subcommands(parser, "credentials_command")

    listing = actions.add_parser("list", help="the credentials the node presents")
    add_config_argument(listing)
    add_json_argument(listing)
    listing.set_defaults(func=cmd_list)

    request = actions.add_parser(
        "request", help="ask an issuer service for credentials (the node proves control of its DID)"
    )
    request.add_argument("--issuer", required=True, help="the issuer service's base URL (the authority's public URL)")
    request.add_argument(
        "--type",
        action="append",
        required=True,
        dest="types",
        help="credential type, e.g. MembershipCredential or membership (repeatable)",
    )
    request.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the credentials to arrive")
    add_config_argument(request)
    add_json_argument(request)
    request.set_defaults(func=cmd_request)

    requests = actions.add_parser("requests", help="the credential requests the node sent, newest first")
    add_config_argument(requests)
    add_json_argument(requests)
    requests.set_defaults(func=cmd_requests)


def cmd_list(args: argparse.Namespace) -> int:
    found = run(client_from(args).call, "GET", "/v1/credentials")
    if args.json:
        emit_json(found)
        return 0
    rows = [
        [
            ", ".join(t for t in c["types"] if t != "VerifiableCredential"),
            c["issuer"],
            str(c["validUntil"]),
            short(c["source"], 50),
        ]
        for c in found["items"]
    ]
    print(table(rows, ["TYPES", "ISSUER", "VALID UNTIL", "SOURCE"]) if rows else "the node holds no credential")
    return 0


def cmd_requests(args: argparse.Namespace) -> int:
    found = run(client_from(args).call, "GET", "/v1/credentials/requests?limit=500")
    if args.json:
        emit_json(found)
        return 0
    rows = [
        [r["id"], r["issuer"], ", ".join(r["types"]), r["state"], short(r.get("reason"), 40)] for r in found["items"]
    ]
    print(table(rows, ["REQUEST", "ISSUER", "TYPES", "STATE", "REASON"]) if rows else "no credential request yet")
    return 0


def cmd_request(args: argparse.Namespace) -> int:
    if not args.wait >= 0:
        raise UsageError("cli.usage", "--wait is a number of seconds", "--wait")
    import asyncio
    import time

    types = [ALIASES.get(t, t) for t in args.types]
    client = client_from(args)

    async def ask() -> dict[str, Any]:
        record = await client.call("POST", "/v1/credentials/requests", {"issuer": args.issuer, "types": types})
        deadline = time.monotonic() + args.wait
        while record["state"] not in SETTLED and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            record = await client.call("GET", f"/v1/credentials/requests/{record['id']}")
        return record

    record = run(ask)
    if args.json:
        emit_json(record)
    if record["state"] == "REJECTED":
        raise Refused("issuance.rejected", f"the issuer rejected request {record['id']}: {record.get('reason')}")
    if record["state"] != "ISSUED" and args.wait:
        raise Unreachable(
            "issuance.pending",
            f"request {record['id']} still waits for the issuer's approval; "
            "'connector credentials requests' shows when it arrives",
        )
    if not args.json:
        if record["state"] == "ISSUED":
            print(f"{', '.join(types)} issued by {record['issuer']} and stored (request {record['id']})")
        else:
            print(
                f"asked {record['issuer']} for {', '.join(types)} (request {record['id']}, {record['state']}); "
                "the issuer delivers them to the node once it approves"
            )
    return 0
