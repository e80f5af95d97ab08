"""The progress bar, pure: what one line says, and when it is drawn."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from connector.cli.progress import ProgressBar, human_bytes, human_duration, render


def test_a_line_shows_bytes_share_rate_and_time_left() -> None:
    line = render(512 * 1024 * 1024, 1024 * 1024 * 1024, 256 * 1024 * 1024)
    assert "512.0 MiB / 1.0 GiB" in line and " 50% " in line and "256.0 MiB/s" in line and "0:02 left" in line
    assert "[############............]" in line
    assert render(5, None, 0).split() == ["5", "B", "0", "B/s"]
    assert human_duration(3725) == "1:02:05" and human_duration(None) == "--:--" and human_duration(-1) == "--:--"
    assert human_bytes(1023) == "1023 B" and human_bytes(1536) == "1.5 KiB"


@given(st.integers(0, 2**50), st.one_of(st.none(), st.integers(0, 2**50)), st.floats(0, 1e12, allow_nan=False))
def test_any_numbers_render_one_bounded_line(done, total, rate) -> None:
    line = render(done, total, rate)
    assert "\n" not in line and len(line) < 100


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_away_from_a_terminal_lines_are_written_now_and_then() -> None:
    out, clock = io.StringIO(), _Clock()
    bar = ProgressBar(out, clock, interval=10.0)
    assert not bar.live
    bar.begin(100, 20)
    for step in range(1, 9):
        clock.now = step * 3.0
        bar.update(20 + step * 10)
    bar.finish()
    lines = out.getvalue().splitlines()
    assert 2 <= len(lines) <= 5 and lines[-1].strip().startswith("100 B / 100 B")
    assert "\r" not in out.getvalue()
    assert bar.rate() == 80 / 24.0  # what this run received, not what a resumed part already held


def test_away_from_a_terminal_the_last_line_is_not_written_twice() -> None:
    out, clock = io.StringIO(), _Clock()
    bar = ProgressBar(out, clock, interval=10.0)
    bar.begin(226, 0)
    clock.now = 0.001
    bar.update(226)  # a small file: its first read is its whole
    clock.now = 0.002
    bar.finish()
    assert len(out.getvalue().splitlines()) == 1, out.getvalue()
