"""`connector assets | policies | offers  list | show | add | remove`: what the node offers, over the management API.

`add` takes the JSON the management API takes (`POST /v1/assets`, ...): a file, inline JSON, or `-` for stdin.
The node validates it and names the offending field of a bad one (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from connector.cli.base import subcommands
from connector.cli.client import (
    add_config_argument,
    add_json_argument,
    add_paging_arguments,
    client_from,
    emit_json,
    run,
    short,
)
from connector.errors import UsageError


@dataclass(frozen=True)
class Kind:
    command: str  # plural, as on the command line and in the API path
    singular: str
    columns: tuple[tuple[str, str], ...]
    example: str

    @property
    def one(self) -> str:
        """The singular with its article: 'an asset', 'a policy'."""
        return ("an " if self.singular[0] in "aeiou" else "a ") + self.singular


KINDS = (
    Kind(
        "assets",
        "asset",
        (("id", "ID"), ("title", "TITLE"), ("mediaType", "MEDIA TYPE"), ("where", "SOURCE"), ("updated", "UPDATED")),
        '{"id": "weather", "title": "Daily weather", "source": {"type": "file", "path": "weather.csv"}}',
    ),
    Kind(
        "policies",
        "policy",
        (("id", "ID"), ("description", "DESCRIPTION"), ("terms", "TERMS"), ("updated", "UPDATED")),
        '{"id": "use", "policy": {"permission": [{"action": "use"}]}}',
    ),
    Kind(
        "offers",
        "offer",
        (("id", "ID"), ("assetId", "ASSET"), ("contractPolicyId", "CONTRACT POLICY"), ("accessPolicyId", "ACCESS")),
        '{"id": "weather-offer", "assetId": "weather", "contractPolicyId": "use"}',
    ),
)


def register(sub: argparse._SubParsersAction) -> None:
    for kind in KINDS:
        parser = sub.add_parser(kind.command, help=f"list, show, add or remove the node's {kind.command}")
        actions = subcommands(parser, f"{kind.singular}_command")

        listing = actions.add_parser("list", help=f"list the {kind.command}")
        add_paging_arguments(listing)
        _common(listing, kind, _list)

        show = actions.add_parser("show", help=f"show one {kind.singular} in full (JSON)")
        show.add_argument("id", metavar="ID")
        _common(show, kind, _show)

        add = actions.add_parser(
            "add",
            help=f"add {kind.one}",
            description=f"Add {kind.one}, given as the management API takes it, e.g. {kind.example}",
        )
        add.add_argument(
            "definition", metavar="JSON|FILE|-", help="inline JSON, a file holding it, or - to read standard input"
        )
        _common(add, kind, _add)

        remove = actions.add_parser("remove", help=f"remove {kind.one}")
        remove.add_argument("id", metavar="ID")
        _common(remove, kind, _remove)


def _common(parser: argparse.ArgumentParser, kind: Kind, func: Any) -> None:
    add_config_argument(parser)
    add_json_argument(parser)
    parser.set_defaults(func=func, kind=kind)


def _path(kind: Kind, pid: str | None = None) -> str:
    from urllib.parse import quote

    return f"/v1/{kind.command}" + (f"/{quote(pid, safe='')}" if pid is not None else "")


def _list(args: argparse.Namespace) -> int:
    from connector.cli.processes import offer_terms, print_page

    kind: Kind = args.kind
    client = client_from(args)
    page = run(client.call, "GET", f"{_path(kind)}?limit={args.limit}&offset={args.offset}")
    if args.json:
        emit_json(page)
        return 0
    for item in page["items"]:
        source = item.get("source") or {}
        item["where"] = short(f"{source.get('type', '')} {source.get('path') or source.get('url') or ''}".strip(), 40)
        item["terms"] = short(offer_terms(item.get("policy") or {}), 60)
        item["updated"] = str(item.get("updatedAt") or "")[:19]
    print_page(page, list(kind.columns))
    return 0


def _show(args: argparse.Namespace) -> int:
    client = client_from(args)
    emit_json(run(client.call, "GET", _path(args.kind, args.id)))
    return 0


def _add(args: argparse.Namespace) -> int:
    kind: Kind = args.kind
    body = definition(args.definition)
    client = client_from(args)
    created = run(client.call, "POST", _path(kind), body)
    if args.json:
        emit_json(created)
    else:
        print(f"added {kind.singular} '{created['id']}'")
    return 0


def _remove(args: argparse.Namespace) -> int:
    kind: Kind = args.kind
    client = client_from(args)
    run(client.call, "DELETE", _path(kind, args.id))
    if args.json:
        emit_json({"removed": args.id})
    else:
        print(f"removed {kind.singular} '{args.id}'")
    return 0


def definition(given: str) -> dict[str, Any]:
    """A JSON object from the command line: inline (it starts with '{'), '-' for stdin, or a file's path."""
    import json
    from pathlib import Path

    if given.lstrip().startswith("{"):
        text, what = given, "the JSON given"
    elif given == "-":
        text, what = sys.stdin.read(), "standard input"
    else:
        path = Path(given)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError("cli.missing_file", f"file not found: {path} (give a file, inline JSON or -)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError("cli.unreadable", f"{path} is not readable: {exc}") from None
        what = str(path)
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError("cli.bad_json", f"{what} is not JSON: {exc}", "JSON|FILE|-") from None
    except RecursionError:  # the parser's own bound, before it runs out of stack
        reason = f"{what} nests arrays and objects too deeply to be read"
        raise UsageError("cli.bad_json", reason, "JSON|FILE|-") from None
    if not isinstance(value, dict):
        raise UsageError("cli.bad_json", f"{what} must be one JSON object", "JSON|FILE|-")
    return value
