"""Waiting between attempts: exponential back-off with jitter, the one rule every retry of the node follows.

The nominal delay doubles from `initial` up to `maximum`; the delay actually waited is drawn uniformly from the
upper half of it. Never less than half the nominal delay, so that retries still back off; never in step with
another process or node that failed at the same moment, so that a peer or a store coming back is not met by a
synchronised crowd. Pure: it computes delays, the caller waits them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


def jittered(nominal: float, draw: Callable[[], float] = random.random) -> float:
    """A delay in [nominal / 2, nominal): `draw` gives a number in [0, 1)."""
    return nominal / 2 + draw() * nominal / 2


@dataclass
class Backoff:
    """The delays of one series of attempts: `next()` before each retry, `reset()` once an attempt succeeded."""

    initial: float
    maximum: float
    factor: float = 2.0
    draw: Callable[[], float] = field(default=random.random, repr=False)
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError("back-off needs 0 < initial <= maximum and factor >= 1")

    def nominal(self) -> float:
        """The delay before the next retry, before jitter."""
        return min(self.maximum, self.initial * self.factor ** min(self.attempts, 64))

    def next(self) -> float:
        """The delay to wait before the next retry (and count it)."""
        delay = jittered(self.nominal(), self.draw)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0


__all__ = ["Backoff", "jittered"]
