"""When a trust list's URL is fetched again: at the refresh interval with jitter (the nodes of a federation do not
all ask at once), and sooner after a failure, backing off from a few seconds to the interval."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connector.trust.edge.trust_lists import RETRY_INITIAL, ListState, TrustListKeeper

INTERVAL = 300.0
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def keeper_and_state() -> tuple[TrustListKeeper, ListState]:
    entry: Any = None  # what is fetched does not matter here, only when
    return TrustListKeeper((), INTERVAL, lambda: NOW), ListState(0, entry, anchor=entry)


def test_a_list_that_answered_is_fetched_again_within_the_interval_never_all_at_the_same_moment() -> None:
    keeper, state = keeper_and_state()
    delays = {keeper._next_fetch(state) for _ in range(50)}
    assert all(INTERVAL / 2 <= d < INTERVAL for d in delays)
    assert len(delays) > 40


def test_a_list_that_did_not_answer_is_asked_again_soon_then_less_and_less_often() -> None:
    keeper, state = keeper_and_state()
    state.unreachable_since = NOW
    delays = [keeper._next_fetch(state) for _ in range(12)]
    assert RETRY_INITIAL / 2 <= delays[0] < RETRY_INITIAL
    assert all(later >= earlier / 2 for earlier, later in zip(delays, delays[1:]))
    assert INTERVAL / 2 <= delays[-1] < INTERVAL  # never more than the interval
    state.unreachable_since = None  # it answered: the next failure starts over from a few seconds
    keeper._next_fetch(state)
    state.unreachable_since = NOW
    assert keeper._next_fetch(state) < RETRY_INITIAL
