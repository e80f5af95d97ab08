"""`connector completion bash|zsh`: the shell completion script of the command line.

The scripts are generated from the parser by shtab when the command line changes (`make completion`, or
`python -m connector.cli.completion`) and ship with the package, so completing needs nothing installed at run
time; a test fails when they no longer match the parser.

    connector completion bash > ~/.local/share/bash-completion/completions/connector
    connector completion zsh > "${fpath[1]}/_connector"     # or any folder on $fpath
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SHELLS = ("bash", "zsh")
FOLDER = Path(__file__).parent / "completions"

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


def script_path(shell: str) -> Path:
    return FOLDER / f"connector.{shell}"


def cmd_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(script_path(args.shell).read_text(encoding="utf-8"))
    sys.stdout.flush()
    return 0


def generate(shell: str) -> str:
    """The completion script for `shell`, made by shtab from the parser (shtab is a development dependency)."""
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


def main() -> int:
    """Write the scripts beside this module (what `make completion` runs)."""
    FOLDER.mkdir(exist_ok=True)
    for shell in SHELLS:
        script_path(shell).write_text(generate(shell), encoding="utf-8")
        print(f"wrote {script_path(shell)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
