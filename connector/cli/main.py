"""Entry point of the `connector` command (also `python -m connector`).

Building the parser imports only the command modules' parser definitions; each command imports what it needs
(aiohttp, cryptography, the node) when it runs, so that `--version`, `--help` and mistakes answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from connector import __version__
from connector.cli import (
    archive,
    authority,
    completion,
    configuration,
    credentials,
    definitions,
    demo,
    duties,
    evidence,
    explain,
    health,
    pki,
    processes,
    serve,
    store,
    transfer,
)
from connector.cli.base import (
    EXIT_OK,
    EXIT_STATUSES,
    Interrupted,
    Parser,
    Unexpected,
    discard_output,
    report_failure,
    subcommands,
    wants_json,
)
from connector.errors import ConnectorError

COMMANDS = (
    pki,
    authority,
    configuration,
    serve,
    health,
    processes,
    definitions,
    credentials,
    transfer,
    duties,
    evidence,
    explain,
    completion,
    store,
    archive,
    demo,
)


def build_parser() -> Parser:
    parser = Parser(
        prog="connector",
        description="A federated data-connector node (Dataspace Protocol 2025-1).",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"connector {__version__}")
    sub = subcommands(parser, "command")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = wants_json(argv)
    try:
        try:
            args = build_parser().parse_args(argv)
            status = int(args.func(args) or 0)
            sys.stdout.flush()  # here, where a reader that went away is noticed, not at the interpreter's exit
            return status
        except ConnectorError as exc:
            return report_failure(exc, as_json)
        except KeyboardInterrupt:
            return report_failure(Interrupted("cli.interrupted", "stopped before it finished"), as_json)
        except BrokenPipeError:
            raise
        except Exception as exc:  # the last line of defence: one line, unless asked for the traceback
            if os.environ.get("CONNECTOR_DEBUG"):
                raise
            reason = f"{type(exc).__name__}: {exc} (set CONNECTOR_DEBUG=1 for details)"
            return report_failure(Unexpected("cli.unexpected", reason), as_json)
    except BrokenPipeError:  # while writing a result: the command did its work, the reader took what it wanted
        discard_output()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
