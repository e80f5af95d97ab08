"""The command line as users run it: `connector ...` in a process of its own, and what a mistake must look like."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run(
    *args: str, env: Mapping[str, str] | None = None, input: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        input=input,
    )


def run_measured(*args: str, folder: Path) -> tuple[subprocess.CompletedProcess[str], int]:
    """`connector ...` as `run` does it, and the most memory (RSS, bytes) its process took."""
    out, err = folder / "measured.stdout", folder / "measured.stderr"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "connector", *args], stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    ran = subprocess.CompletedProcess(proc.args, proc.returncode, out.read_text(), err.read_text())
    return ran, usage.ru_maxrss * 1024


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit status 2, one line on stderr naming every fragment, no traceback."""
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
