"""`connector authority serve`: run an authority's service: it publishes the status lists, CRL and trust list,
takes participants' enrolments and credential requests, and time-stamps evidence."""

from __future__ import annotations

import argparse
from pathlib import Path

from connector.cli.base import subcommands


def register(sub: argparse._SubParsersAction) -> None:
    authority = sub.add_parser("authority", help="run a federation authority's publication service")
    authority_sub = subcommands(authority, "authority_command")
    serve = authority_sub.add_parser(
        "serve",
        help="at the public URL: status lists, CRL and trust list, enrolment, credential issuance, time-stamps",
    )
    serve.add_argument("--dir", required=True, type=Path, help="authority folder")
    serve.add_argument("--listen", help="HOST:PORT to listen on (default: the public URL's port on loopback)")
    serve.add_argument(
        "--status-validity",
        type=float,
        default=300.0,
        help="seconds a served status list is valid (a revocation is visible within it)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import timedelta

    from connector.authority.service import serve
    from connector.config import parse_listen
    from connector.errors import ConnectorError, UsageError
    from connector.log import setup_logging

    listen = parse_listen(args.listen, "--listen") if args.listen else None
    if not args.status_validity > 0:
        raise UsageError("cli.usage", "--status-validity must be a positive number of seconds", "--status-validity")
    setup_logging(args.log_level)
    try:
        asyncio.run(serve(args.dir, listen, timedelta(seconds=args.status_validity)))
    except ConnectorError as exc:
        if exc.where != "--authority":  # (the pki commands' name for the folder this command calls --dir)
            raise
        raise ConnectorError(exc.code, exc.reason, "--dir") from None
    return 0
