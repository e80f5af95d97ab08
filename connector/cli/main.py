"""Entry point of the `connector` command (also `python -m connector`)."""

from __future__ import annotations

import os
import sys

from connector import __version__
from connector.cli import authority, demo, evidence, explain, pki, processes, serve, store, transfer
from connector.cli.base import Parser, fail
from connector.errors import ConnectorError


def build_parser() -> Parser:
    parser = Parser(prog="connector", description="A federated data-connector node (Dataspace Protocol 2025-1).")
    parser.add_argument("--version", action="version", version=f"connector {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in (pki, authority, serve, processes, transfer, evidence, explain, demo, store):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except ConnectorError as exc:
        return fail(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: one line, unless asked for the traceback
        if os.environ.get("CONNECTOR_DEBUG"):
            raise
        print(
            f"connector: unexpected error: {type(exc).__name__}: {exc} (set CONNECTOR_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
