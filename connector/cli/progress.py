"""A plain-text progress bar on stderr: bytes, rate and time left, redrawn in place on a terminal.

`render` is pure (so it is tested with plain numbers); `ProgressBar` only decides when to draw. Away from a
terminal (a log, a pipe) it writes a full line now and then instead of redrawing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: float) -> str:
    value = float(max(0.0, n))
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0 or seconds > 99 * 3600:
        return "--:--"
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def render(done: int, total: int | None, rate: float, width: int = 24) -> str:
    """One line: ``  12.0 MiB / 1.0 GiB   1% [#....]  300.0 MiB/s  0:03 left`` (no total: no bar, no time left)."""
    rate_text = f"{human_bytes(rate)}/s"
    if total is None or total <= 0:
        return f"{human_bytes(done):>10}  {rate_text:>12}"
    fraction = min(1.0, max(0.0, done / total))
    filled = int(fraction * width)
    bar = "#" * filled + "." * (width - filled)
    left = (total - done) / rate if rate > 0 else None
    return (
        f"{human_bytes(done):>10} / {human_bytes(total):<10} {fraction * 100:3.0f}% [{bar}] "
        f"{rate_text:>12}  {human_duration(left)} left"
    )


class ProgressBar:
    def __init__(
        self, stream: TextIO = sys.stderr, clock: Callable[[], float] = time.monotonic, interval: float | None = None
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.2 if self.live else 10.0)
        self.total: int | None = None
        self._base = 0  # bytes held before this run (a resumed download)
        self._started = clock()
        self._last_draw = float("-inf")
        self._done = 0
        self._drawn = False
        self._drawn_done = -1  # the bytes the last line drawn showed

    def begin(self, total: int | None, already: int) -> None:
        self.total = total
        self._base = already
        self._done = already
        self._started = self.clock()

    def rate(self) -> float:
        elapsed = self.clock() - self._started
        return (self._done - self._base) / elapsed if elapsed > 0 else 0.0

    def update(self, done: int) -> None:
        self._done = done
        now = self.clock()
        if now - self._last_draw >= self.interval:
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        line = render(self._done, self.total, self.rate())
        if self.live:
            self.stream.write("\r" + line + "\x1b[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._drawn = True
        self._drawn_done = self._done

    def finish(self) -> None:
        if not self.live and self._drawn_done == self._done:
            return  # away from a terminal, the last line written already says it
        if self._drawn or self.live:
            self._draw()
            if self.live:
                self.stream.write("\n")
                self.stream.flush()

    def note(self, text: str) -> None:
        """A message between redraws (resuming, waiting, ...), on a line of its own."""
        if self.live and self._drawn:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()
