"""The consumer's deletion step: when the time a deletion is due comes, it is made, whatever moment the step's
timer woke at."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.duties import service
from connector.duties.service import AHEAD, DutyService
from connector.tasks import Tasks

DUE = datetime(2026, 12, 7, 9, 10, 37, tzinfo=UTC)


class Store:
    """Only what the deletion step reads: when the next deletion is due."""

    async def read(self, fn: Any, *args: Any) -> Any:
        return DUE


async def test_a_timer_that_wakes_a_moment_before_the_deletion_is_due_does_not_put_it_off():
    # The step reads the clock once to decide whether the deletion is due (a microsecond too early, as a timer of
    # millisecond granularity wakes), and again when it works out how long to wait (a microsecond late by then).
    times = iter([DUE - AHEAD - timedelta(microseconds=1)] + [DUE - AHEAD + timedelta(microseconds=1)] * 100)
    duties = DutyService(
        store=Store(),  # type: ignore[arg-type]
        participant_id="did:web:consumer.example",
        tasks=Tasks(),
        peers=None,  # type: ignore[arg-type]
        anchors=list,
        roots={},
        clock=lambda: next(times),
    )
    made = asyncio.Event()

    async def delete_due() -> int:
        made.set()
        return 0  # (nothing left to delete: the step then waits for the next one)

    duties.delete_due = delete_due  # type: ignore[method-assign]
    step = asyncio.ensure_future(duties._deletions())
    try:
        await asyncio.wait_for(made.wait(), 5)  # not after RETRY_AFTER_FAILURE, a minute
    finally:
        step.cancel()


def test_how_long_the_deletion_step_waits():
    now = DUE - timedelta(seconds=10)
    assert service._deletion_wait(None, now, False) == service.MAX_SLEEP
    assert service._deletion_wait(DUE, now, False) == 10.0
    assert service._deletion_wait(DUE, DUE + timedelta(seconds=1), False) == 0.0  # came meanwhile: look again
    assert service._deletion_wait(DUE, DUE, True) == service.RETRY_AFTER_FAILURE  # due, none could be made
    assert service._deletion_wait(DUE + timedelta(days=30), now, False) == service.MAX_SLEEP
