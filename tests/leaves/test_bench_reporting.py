"""The benchmarks' reporting: each figure beside its target, baseline and earlier figure, appended to
$BENCH_RESULTS, and `make bench`'s summary of them all (nothing here times anything)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
try:
    import summary
    from reporting import Figure, report
finally:
    sys.path.pop(0)


def test_a_figure_meets_its_target_as_an_upper_or_a_lower_bound():
    assert Figure("cpu", 2.4, "ms", 2.5, "max").meets is True
    assert Figure("cpu", 2.6, "ms", 2.5, "max").meets is False
    assert Figure("rate", 310, "/s", 300, "min").meets is True
    assert Figure("rate", 290, "/s", 300, "min").meets is False
    assert Figure("rss", 70, "MiB").meets is None


def test_the_summary_shows_every_reported_figure_with_target_baseline_and_before(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results.jsonl"
    monkeypatch.setenv("BENCH_RESULTS", str(results))
    report("negotiation", [Figure("provider CPU", 9.0, "ms", 2.5, "max", None, 5.0)])  # an earlier run
    report("storage", [Figure("store per negotiation", 18.7, "KiB", 8.0, "max", before=37.5)])
    report(
        "negotiation",
        [
            Figure("latency", 20.0, "ms", 100, "max", 0.45, 21.0),
            Figure("provider CPU", 2.4, "ms", 2.5, "max", None, 5.0),
        ],
    )
    capsys.readouterr()

    found = summary.read(results)
    assert list(found) == ["negotiation", "storage"]
    assert [(f.name, f.value) for f in found["negotiation"]] == [("latency", 20.0), ("provider CPU", 2.4)]
    text = summary.render(found)
    lines = {line.split("  ")[1]: line for line in text.splitlines() if line.startswith("  ") and "  " in line[2:]}
    assert "<= 100 ms" in lines["latency"] and "yes" in lines["latency"] and "0.45 ms" in lines["latency"]
    assert "NO" in lines["store per negotiation"] and "37.5 KiB" in lines["store per negotiation"]
    assert text.endswith("targets met: 2 of 3")


def test_the_summary_says_when_nothing_was_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["summary.py", str(tmp_path / "absent.jsonl")])
    assert summary.main() == 1
    assert "no benchmark reported figures" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["summary.py"], ["summary.py", "a", "b"]])
def test_the_summary_wants_one_file(argv, monkeypatch):
    monkeypatch.setattr(sys, "argv", argv)
    assert summary.main() == 2
