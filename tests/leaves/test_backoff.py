"""Back-off with jitter: delays double up to a cap, each drawn from the upper half of its nominal value."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.backoff import Backoff, jittered


def test_the_nominal_delay_doubles_up_to_the_cap_and_resets():
    backoff = Backoff(0.1, 1.0, draw=lambda: 0.999999)
    delays = [round(backoff.next(), 3) for _ in range(6)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert round(backoff.next(), 3) == 0.1


def test_the_smallest_draw_waits_half_the_nominal_delay():
    backoff = Backoff(0.2, 30.0, draw=lambda: 0.0)
    assert [backoff.next() for _ in range(3)] == [0.1, 0.2, 0.4]


def test_two_series_that_failed_together_do_not_retry_in_step():
    a = Backoff(1.0, 60.0, draw=random.Random(1).random)
    b = Backoff(1.0, 60.0, draw=random.Random(2).random)
    assert [a.next() for _ in range(5)] != [b.next() for _ in range(5)]


@given(
    initial=st.floats(0.001, 10),
    spread=st.floats(1, 1000),
    attempts=st.integers(0, 200),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_every_delay_lies_in_the_upper_half_of_its_nominal_value_and_never_beyond_the_cap(
    initial, spread, attempts, draw
):
    backoff = Backoff(initial, initial * spread, draw=lambda: draw, attempts=attempts)
    nominal = backoff.nominal()
    delay = backoff.next()
    assert nominal / 2 <= delay <= nominal <= initial * spread
    assert backoff.attempts == attempts + 1


def test_nonsense_settings_are_refused():
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(2, 1)
    assert jittered(4.0, lambda: 0.5) == 3.0
