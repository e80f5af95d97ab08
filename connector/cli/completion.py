"""`connector completion bash|zsh`: the shell completion script of the command line.

The script is written from the parser itself (by shtab), so it always completes the commands and options of this
version of the command line.

    connector completion bash > ~/.local/share/bash-completion/completions/connector
    connector completion zsh > "${fpath[1]}/_connector"     # or any folder on $fpath
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SHELLS = ("bash", "zsh")

# Arguments that name a folder (the others typed as a path name a file).
_FOLDERS = frozenset({"dir", "workdir", "authority"})


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "completion",
        help="print the shell completion script (bash or zsh)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    parser.set_defaults(func=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(generate(args.shell))
    sys.stdout.flush()
    return 0


def generate(shell: str) -> str:
    """The completion script for `shell`, made by shtab from the parser."""
    import shtab

    from connector.cli.main import build_parser

    parser = build_parser()
    for action in _actions(parser):
        if action.type is Path or action.dest == "definition":
            action.complete = shtab.DIRECTORY if action.dest in _FOLDERS else shtab.FILE  # type: ignore[attr-defined]
    return shtab.complete(parser, shell=shell)


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    found: list[argparse.Action] = []
    seen: set[int] = set()
    pending = [parser]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for action in current._actions:
            found.append(action)
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(action.choices.values())
    return found
