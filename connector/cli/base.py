"""Shared plumbing of the command line: one-line errors, exit status 2 for anything the user can fix."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from connector.errors import ConnectorError, UsageError

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and the answer is "no" (e.g. a verification that does not hold)
EXIT_USAGE = 2  # wrong usage, bad configuration, missing file, port in use, ...


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        raise UsageError("cli.usage", f"{message} (see '{self.prog} --help')")


def fail(error: ConnectorError) -> int:
    where = f" [{error.where}]" if error.where else ""
    print(f"connector: error: {error.reason}{where}", file=sys.stderr)
    is_usage = getattr(error, "is_usage", True)  # a node's or peer's "no" (NodeError) is a failure, not misuse
    return EXIT_USAGE if is_usage else EXIT_FAILED
