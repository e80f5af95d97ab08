"""Shared plumbing of the command line: exit statuses, failures reported in one line (or one JSON object), and
the argument parser whose mistakes point at the help of the command they were made in.

Nothing here imports more than the standard library and connector.errors: `connector --version` and `--help`
load this and the command modules' parser definitions only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from connector.errors import ConnectorError, UsageError

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and the answer is "no": a peer or the node refused, a verification does not hold
EXIT_USAGE = 2  # a mistake: bad usage, bad configuration, missing or unreadable file, unknown id
EXIT_UNREACHABLE = 3  # the node or the peer could not be reached or could not answer now: trying again may help
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)

EXIT_STATUSES = """\
exit status:
  0    done (also when the reader of the output stops early, as `| head` does)
  1    refused: a peer or the node said no (with its reason), or a verification does not hold
  2    a mistake: bad usage, bad configuration, a missing or unreadable file, an unknown id
  3    unreachable: the node or the peer did not answer, or could not answer now; try again later
  130  interrupted (Ctrl-C)

errors: one line on stderr, `connector: <kind>: <reason> [<where>]`; with --json, one JSON object on stdout
instead, {"error": {"code": ..., "reason": ..., "where": ...}}, and nothing on stderr but progress."""

_KIND = {EXIT_FAILED: "refused", EXIT_USAGE: "error", EXIT_UNREACHABLE: "unreachable", EXIT_INTERRUPTED: "interrupted"}

# Codes raised below the command line (the pull client, the node's answers) that are not mistakes.
_REFUSALS = frozenset(
    {
        "policy.refused",
        "policy.denied",
        "peer.refused",
        "peer.tls_refused",
        "peer.not_tls",
        "peer.identity_mismatch",
        "catalog.peer_error",
        "catalog.identity_mismatch",
        "negotiation.refused",
        "transfer.terminated",
        "pull.ended",
        "pull.refused_again",
        "pull.undelivered",
        "issuance.refused",
        "pki.enrol_rejected",
    }
)
_UNREACHABLE = frozenset(
    {"peer.unreachable", "peer.unavailable", "pull.broken", "pull.waiting", "pki.authority_unreachable"}
)


class Refused(ConnectorError):
    """The answer is no."""

    exit_status = EXIT_FAILED


class Unreachable(ConnectorError):
    """The node or the peer could not be reached or could not answer now."""

    exit_status = EXIT_UNREACHABLE


class Interrupted(ConnectorError):
    exit_status = EXIT_INTERRUPTED


class Unexpected(ConnectorError):
    """A failure nobody foresaw: one line (or JSON) all the same; CONNECTOR_DEBUG=1 shows the traceback."""

    exit_status = EXIT_FAILED
    kind = "unexpected error"


def exit_status(error: ConnectorError) -> int:
    """The exit status a failure ends the command with (see EXIT_STATUSES)."""
    explicit = getattr(error, "exit_status", None)
    if isinstance(explicit, int):
        return explicit
    if error.code in _UNREACHABLE:
        return EXIT_UNREACHABLE
    if error.code in _REFUSALS or error.code.startswith("seal."):
        return EXIT_FAILED
    return EXIT_USAGE  # UsageError, ConfigError, and whatever else the command line was given wrong


def report_failure(error: ConnectorError, as_json: bool = False) -> int:
    """Tell the failure (one line on stderr, or the JSON error object on stdout); returns its exit status, also
    when nobody reads it any more."""
    status = exit_status(error)
    try:
        if as_json:
            emit_json({"error": {"code": error.code, "reason": error.reason, "where": error.where}})
        else:
            where = f" [{error.where}]" if error.where else ""
            kind = getattr(error, "kind", None) or _KIND.get(status, "error")
            print(f"connector: {kind}: {error.reason}{where}", file=sys.stderr)
    except BrokenPipeError:
        discard_output()
    return status


def discard_output() -> None:
    """The reader of stdout went away (`| head`): what it did not read is not wanted. Send the rest, and the
    interpreter's last flush, nowhere instead of failing again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def log_anchors(config: Any) -> tuple[list[Any], list[Any]]:
    """The certificates a node's evidence log is checked against, from its configuration: (the trust anchors its
    signatures chain to: its CAs and its trust lists' anchors; the TSAs' certificates, or those anchors)."""
    from connector import keys

    anchors = [c for p in config.trust.ca for c in keys.load_certificates(p)]
    anchors += [keys.load_certificate(entry.anchor) for entry in config.trust.lists]
    tsa = [c for p in config.evidence.tsa_certificates for c in keys.load_certificates(p)] or anchors
    return anchors, tsa


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON (also when it cannot be parsed: its error is JSON then)."""
    return "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line naming the help of the (sub)command they were made in."""

    def error(self, message: str) -> NoReturn:
        raise UsageError("cli.usage", f"{message} (see '{self.prog} --help')")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        # The innermost command finishes parsing first: it names itself, and its parents leave the name alone.
        if getattr(parsed, "_command_prog", None) is None:
            parsed._command_prog = self.prog
        return parsed, extras

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            prog = getattr(parsed, "_command_prog", None) or self.prog
            raise UsageError("cli.usage", f"unrecognized arguments: {' '.join(extras)} (see '{prog} --help')")
        return parsed


def subcommands(parser: argparse.ArgumentParser, dest: str) -> argparse._SubParsersAction:
    """A required group of subcommands, parsed by Parser."""
    sub = parser.add_subparsers(dest=dest, metavar="COMMAND", parser_class=Parser)
    sub.required = True
    return sub
