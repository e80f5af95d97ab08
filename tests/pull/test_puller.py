"""The puller's decisions that need no provider: what a resume refused as delivered means for the part held."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.cli.base import EXIT_FAILED, exit_status
from connector.pull.client import PullRefused, Undelivered, answer_problem, seal_of, short_of_delivered


def test_a_part_known_to_be_short_cannot_be_finished_under_the_transfer() -> None:
    refusal = short_of_delivered(131_071_995, 134_217_728)
    assert isinstance(refusal, Undelivered) and isinstance(refusal, PullRefused)
    assert refusal.code == "pull.undelivered"
    assert "held only 131071995 of its 134217728 bytes" in refusal.reason
    assert "the missing 3145733 bytes cannot be fetched under this transfer" in refusal.reason
    assert exit_status(refusal) == EXIT_FAILED


@pytest.mark.parametrize(("held", "total"), [(10, None), (10, 10), (11, 10)])
def test_a_part_that_may_hold_everything_is_left_to_the_seal(held: int, total: int | None) -> None:
    # Unknown total (a part an earlier version recorded without it): as before, the seal decides.
    assert short_of_delivered(held, total) is None


@given(st.integers(1, 2**50), st.one_of(st.none(), st.integers(0, 2**50)))
def test_only_a_known_total_above_what_is_held_stops_the_pull(held: int, total: int | None) -> None:
    assert (short_of_delivered(held, total) is not None) == (total is not None and held < total)


def test_a_provider_answer_nested_past_reading_is_no_reason_and_no_seal() -> None:
    deep = b"[" * 100_000
    assert answer_problem(503, deep) == ("http.503", "HTTP 503")
    assert answer_problem(403, b'{"code": "token.expired", "reason": "late"}') == ("token.expired", "late")
    with pytest.raises(PullRefused) as refused:
        seal_of(deep)
    assert refused.value.code == "seal.malformed"
    assert seal_of(b'{"sha256": "00"}') == {"sha256": "00"}
