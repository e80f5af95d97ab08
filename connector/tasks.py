"""Background work owned by a running node: named tasks, cancelled together at shutdown, crashes logged.

Every part that runs work of its own (steps, deliveries, pushes, refresh loops) is given the node's `Tasks` at
construction, so that nothing outlives the node and a failure in the background is never silent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from typing import Any

log = logging.getLogger("connector.node")


class Tasks:
    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()  # a set: tasks come and go per step

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro` in the background until it ends or the node stops."""
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._running.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(list(self._running))

    def __len__(self) -> int:
        return len(self._running)

    async def stop(self) -> None:
        """Cancel every task and wait until each has ended."""
        while self._running:  # a task being cancelled may still spawn another
            tasks = list(self._running)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
