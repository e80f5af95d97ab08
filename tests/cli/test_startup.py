"""Simple commands answer at once: building the parser loads no network, crypto, protocol or node modules.

Measured by what the interpreter imported (`-X importtime` names every module it loads), not by the clock,
so that the test holds on a busy machine.
"""

import json
import subprocess
import sys

import pytest

# What only the commands that need them may load.
HEAVY = (
    "aiohttp",
    "cryptography",
    "ssl",
    "asyncio",
    "sqlite3",
    "jsonschema",
    "uvloop",
    "connector.config",
    "connector.dsp",
    "connector.node",
    "connector.control",
    "connector.pull",
    "connector.demo",
    "connector.pki",
    "connector.evidence",
)


def imported(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "connector", *args], capture_output=True, text=True, timeout=60
    )
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "connector.cli.main" in names, result.stderr[-2000:]
    return names


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], ["transfer", "--help"], ["negotiations", "--state", "nonsense"], ["frobnicate"]],
)
def test_simple_commands_load_nothing_heavy(argv):
    names = imported(*argv)
    loaded = sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY))
    assert loaded == [], f"connector {' '.join(argv)} imported {loaded}"


def test_the_measure_sees_heavy_modules_where_they_are_used(tmp_path):
    # The same measure on a command that does need the configuration: it must see it loaded.
    names = imported("negotiations", "--config", str(tmp_path / "none.toml"))
    assert "connector.config" in names


def test_the_table_of_commands_names_what_each_module_registers():
    from connector.cli.base import Parser, subcommands
    from connector.cli.main import COMMANDS, command_module

    for module, commands in COMMANDS.items():
        sub = subcommands(Parser(prog="connector"), "command")
        command_module(module).register(sub)
        assert tuple(sub.choices) == commands, module


def commands_loaded(*args: str) -> list[str]:
    """The command modules `connector ARGS` loaded."""
    probe = (
        "import contextlib, io, json, sys; from connector.cli.main import COMMANDS, main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({list(args)!r})\n"
        "print(json.dumps(sorted(m for m in COMMANDS if 'connector.cli.' + m in sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    return json.loads(result.stdout)


def test_a_command_loads_only_its_own_module_of_commands():
    assert commands_loaded("serve", "--help") == ["serve"]
    assert commands_loaded("export", "--help") == ["archive"]
    assert commands_loaded("--help") == sorted(COMMAND_MODULES)  # the whole table when none is named


COMMAND_MODULES = (
    "pki",
    "authority",
    "configuration",
    "serve",
    "health",
    "processes",
    "definitions",
    "credentials",
    "transfer",
    "duties",
    "evidence",
    "explain",
    "completion",
    "store",
    "archive",
    "demo",
)
