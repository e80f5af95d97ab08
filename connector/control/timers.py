"""The one timer of the control plane: processes waiting for their peers are looked at when their time comes.

A waiting process's record says when it is next looked at (`check_at`: its next state query, or its deadline; see
waiting.py). One task sleeps until the soonest such time, looks at every process that is due (in the store's
transaction: give up at the deadline, or move the next check on and send a state query), follows the peers'
answers, and sleeps again. It is woken early when a process starts waiting with a sooner time (`schedule`), so
nothing polls; at start it reads the soonest time from the store, so a node that was down catches up at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from connector.backoff import Backoff
from connector.control.apply import ProcessStatus, StepRunner
from connector.control.waiting import StateQuery
from connector.errors import ConnectorError
from connector.store.errors import StoreError
from connector.store.interface import Store
from connector.store.sql import processes as repo
from connector.tasks import Tasks
from connector.web.peer_client import PeerClient

log = logging.getLogger("connector.control")

BATCH = 64  # processes looked at per transaction read
PARALLEL = 16  # state queries in flight at once
QUERY_TIMEOUT = 10.0


class WaitTimers:
    def __init__(
        self,
        store: Store,
        tasks: Tasks,
        peers: PeerClient,
        runner: StepRunner,
        settled: Callable[[str, str, ProcessStatus], None],
    ) -> None:
        self.store = store
        self.tasks = tasks
        self.peers = peers
        self.runner = runner
        self.settled = settled  # Engine.settled: what a change leaves to do (deliver a termination, tell watchers)
        self._wake = asyncio.Event()
        self._next: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = self.tasks.spawn(self._run(), "wait-timers")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def schedule(self, at: datetime | None) -> None:
        """A process is to be looked at `at`: wake the timer if that is sooner than it sleeps."""
        if at is not None and (self._next is None or at < self._next):
            self._next = at
            self._wake.set()

    async def _run(self) -> None:
        backoff = Backoff(0.05, 5.0)
        while True:
            try:
                await self._round()
                backoff.reset()
            except StoreError as exc:
                delay = backoff.next()
                log.warning("waiting processes not looked at: the store failed: %s", exc, extra={"in_s": delay})
                await asyncio.sleep(delay)
            except Exception:  # a bug must not stop every deadline: log it, go on after a while
                log.exception("waiting processes not looked at")
                await asyncio.sleep(backoff.next())

    async def _round(self) -> None:
        self._wake.clear()  # before reading: a schedule() from here on wakes the sleep below
        due = await self.store.read(repo.due_checks, self.runner.clock(), BATCH)
        if due:
            limit = asyncio.Semaphore(PARALLEL)
            await asyncio.gather(*(self._look(kind, pid, limit) for kind, pid in due))
            if len(due) == BATCH:
                return
        self._next = await self.store.read(repo.next_check)  # a sooner one scheduled meanwhile has set _wake
        wait = None if self._next is None else max(0.0, (self._next - self.runner.clock()).total_seconds())
        try:
            await asyncio.wait_for(self._wake.wait(), wait)
        except TimeoutError:
            pass

    async def _look(self, kind: str, pid: str, limit: asyncio.Semaphore) -> None:
        async with limit:
            query, status = await self.store.run(self.runner.check_due, kind, pid)
            if status is not None:
                self.settled(kind, pid, status)
            if query is not None:
                await self._ask(kind, pid, query)

    async def _ask(self, kind: str, pid: str, query: StateQuery) -> None:
        try:
            answer = await self.peers.get(query.url, expected_peer=query.peer_id, timeout=QUERY_TIMEOUT)
        except ConnectorError as exc:  # unreachable, or not the peer: nothing learnt; asked again at the next check
            log.info("state query unanswered", extra={"process_id": pid, "url": query.url, "reason": exc.reason})
            return
        status = await self.store.run(self.runner.follow_peer, kind, pid, answer.status, answer.body)
        if status is not None:
            log.info("%s followed its peer: %s", kind, status.state, extra={"process_id": pid, "peer": query.peer_id})
            self.settled(kind, pid, status)


__all__ = ["WaitTimers"]
