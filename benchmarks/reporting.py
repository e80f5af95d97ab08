"""How every benchmark reports: each figure beside its target, the baseline measured in the same run (when the
benchmark has one) and the figure before the performance work (as the README records it), as one table; with
``BENCH_RESULTS=FILE`` in the environment each figure is also appended to FILE as a JSON line, for `make bench`'s
summary (benchmarks/summary.py).
"""

from __future__ import annotations

import json
import os
import statistics
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    target: float | None = None
    bound: str = "max"  # "max": the target is an upper bound (time, bytes); "min": a lower bound (rate, ratio)
    baseline: float | None = None  # measured in the same run (a bare stream, a round trip): what the work rides on
    before: float | None = None  # the same figure before the performance work (README), for reference

    @property
    def meets(self) -> bool | None:
        if self.target is None:
            return None
        return self.value <= self.target if self.bound == "max" else self.value >= self.target


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    return f"{text} {unit}".strip()


def table(title: str, figures: Sequence[Figure]) -> str:
    rows = [("figure", "value", "target", "meets", "baseline (same run)", "before")]
    for f in figures:
        target = "-" if f.target is None else ("<= " if f.bound == "max" else ">= ") + _number(f.target, f.unit)
        meets = "-" if f.meets is None else "yes" if f.meets else "NO"
        rows.append(
            (f.name, _number(f.value, f.unit), target, meets, _number(f.baseline, f.unit), _number(f.before, f.unit))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"== {title}"]
    for index, row in enumerate(rows):
        lines.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(title: str, figures: Sequence[Figure], details: dict[str, Any] | None = None) -> None:
    """Print the figures (and, indented, the details), and append them to $BENCH_RESULTS when set."""
    print(table(title, figures))
    if details:
        print("  details: " + json.dumps(details, indent=None, default=str))
    path = os.environ.get("BENCH_RESULTS")
    if path:
        run = uuid.uuid4().hex  # tells the figures of a later run of the same benchmark from these
        with open(path, "a", encoding="utf-8") as out:
            for figure in figures:
                out.write(json.dumps({"benchmark": title, "run": run, **asdict(figure), "meets": figure.meets}) + "\n")
