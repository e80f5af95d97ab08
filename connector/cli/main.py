"""Entry point of the `connector` command (also `python -m connector`).

Building the parser imports only the command modules' parser definitions (only the named command's module when the
command line names one); each command imports what it needs (aiohttp, cryptography, the node) when it runs, so that
`--version`, `--help` and mistakes answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from connector import __version__
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
from connector.errors import NO_SPACE, ConnectorError

# The command modules, in the order `--help` lists their commands, each with the commands it registers. A command
# line naming one of them loads only its module (the node a `serve` starts does not hold every command's parser).
COMMANDS: dict[str, tuple[str, ...]] = {
    "pki": ("pki",),
    "authority": ("authority",),
    "configuration": ("config",),
    "serve": ("serve",),
    "health": ("health",),
    "processes": ("catalog", "negotiate", "negotiations", "agreements", "transfers"),
    "definitions": ("assets", "policies", "offers"),
    "credentials": ("credentials",),
    "transfer": ("transfer", "fetch"),
    "duties": ("duties", "received"),
    "evidence": ("evidence",),
    "explain": ("explain",),
    "completion": ("completion",),
    "store": ("store",),
    "archive": ("export", "import"),
    "demo": ("demo",),
}


def command_module(name: str) -> Any:
    return importlib.import_module(f"connector.cli.{name}")


def build_parser(argv: Sequence[str] = ()) -> Parser:
    """The command line's parser: with every command, or only the one `argv` names first (whose parsing, help and
    mistakes are the same either way)."""
    parser = Parser(
        prog="connector",
        description="A federated data-connector node (Dataspace Protocol 2025-1).",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"connector {__version__}")
    sub = subcommands(parser, "command")
    named = [module for module, commands in COMMANDS.items() if argv and argv[0] in commands]
    for module in named or COMMANDS:
        command_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = wants_json(argv)
    try:
        try:
            args = build_parser(argv).parse_args(argv)
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
            if isinstance(exc, OSError) and exc.errno in NO_SPACE:  # a full disk: a problem of the machine's, told so
                held = f" that holds {exc.filename}" if exc.filename else ""
                return report_failure(ConnectorError("cli.no_space", f"no space left on the device{held}"), as_json)
            reason = f"{type(exc).__name__}: {exc} (set CONNECTOR_DEBUG=1 for details)"
            return report_failure(Unexpected("cli.unexpected", reason), as_json)
    except BrokenPipeError:  # while writing a result: the command did its work, the reader took what it wanted
        discard_output()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
