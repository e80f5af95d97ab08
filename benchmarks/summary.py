"""`make bench`'s closing summary: every figure the benchmarks appended to $BENCH_RESULTS (benchmarks/reporting.py),
as one table per benchmark, each figure beside its target, its baseline in the same run and its figure before the
performance work; then how many targets are met.

    python benchmarks/summary.py FILE
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reporting import Figure, table

_FIELDS = {f.name for f in fields(Figure)}


def read(path: Path) -> dict[str, list[Figure]]:
    """The figures in `path`, by benchmark in the order they ran (a benchmark run twice keeps its last figures)."""
    by_benchmark: dict[str, list[Figure]] = {}
    last_run: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        title, run = entry["benchmark"], entry.get("run", "")
        if last_run.get(title, run) != run:
            by_benchmark[title] = []  # a later run of the same benchmark
        last_run[title] = run
        by_benchmark.setdefault(title, []).append(Figure(**{k: v for k, v in entry.items() if k in _FIELDS}))
    return by_benchmark


def render(by_benchmark: dict[str, list[Figure]]) -> str:
    parts = [table(title, figures) for title, figures in by_benchmark.items()]
    judged = [f.meets for figures in by_benchmark.values() for f in figures if f.meets is not None]
    parts.append(f"targets met: {sum(judged)} of {len(judged)}")
    return "\n\n".join(parts)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    path = Path(sys.argv[1])
    if not path.exists():
        print("no benchmark reported figures", file=sys.stderr)
        return 1
    print(render(read(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
