"""Sampling profiles of running nodes (py-spy, when installed) and their top entries.

`Sampler(pid, path)` records a process's stacks while a block runs (py-spy's raw, collapsed format: one line per
distinct stack with its sample count); `top(path)` reads such a file back and returns the functions holding the
most samples, inclusive (anywhere on the stack) and exclusive (on top of it). Only samples of threads that were
running count (py-spy leaves idle threads out by default), so the figures are shares of the process's CPU time.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_LOCATION = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    """The py-spy executable beside this interpreter, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Sampler:
    """py-spy recording one process for the duration of a `with` block (nothing when py-spy is absent)."""

    def __init__(self, pid: int, path: Path, rate: int = 250, native: bool = False) -> None:
        self.pid, self.path, self.rate, self.native = pid, path, rate, native
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sampler:
        exe = py_spy()
        if exe is not None:
            self.proc = subprocess.Popen(
                [exe, "record", "--pid", str(self.pid), "--rate", str(self.rate), "--format", "raw"]
                + ["--threads", "--output", str(self.path)]
                # Native frames need the process paused while its stack is read; otherwise sample without pausing.
                + (["--native"] if self.native else ["--nonblocking"]),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass(frozen=True)
class Entry:
    name: str
    inclusive: float  # share of samples with this function anywhere on the stack
    exclusive: float  # share of samples with this function on top


def _name(frame: str) -> str:
    match = _LOCATION.match(frame.strip())
    if match is None:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "connector/", "lib/python3"):
        if marker in file:
            file = file[file.index(marker) :]
            break
    return f"{match['func']} ({file})"


def top(path: Path, count: int = 25) -> tuple[int, list[Entry], list[Entry]]:
    """(samples, the `count` functions with the most inclusive samples, those with the most exclusive ones)."""
    inclusive: Counter[str] = Counter()
    exclusive: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return 0, [], []
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        n = int(samples)
        frames = [_name(f) for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += n
        for name in set(frames):
            inclusive[name] += n
        exclusive[frames[-1]] += n

    def entries(counter: Counter[str]) -> list[Entry]:
        return [
            Entry(name, inclusive[name] / total if total else 0.0, exclusive[name] / total if total else 0.0)
            for name, _ in counter.most_common(count)
        ]

    return total, entries(inclusive), entries(exclusive)


def summary(path: Path, label: str, count: int = 25) -> str:
    total, by_inclusive, by_exclusive = top(path, count)
    if not total:
        return f"{label}: no profile (py-spy not installed, or it could not attach)"
    lines = [f"{label}: {total} samples ({path})", "  inclusive  exclusive  function"]
    lines += [f"  {e.inclusive:8.1%}  {e.exclusive:8.1%}  {e.name}" for e in by_inclusive]
    lines += ["  -- by exclusive samples --"]
    lines += [f"  {e.inclusive:8.1%}  {e.exclusive:8.1%}  {e.name}" for e in by_exclusive]
    return "\n".join(lines)
