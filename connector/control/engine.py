"""The control plane's event loop side: runs pending steps and delivers outgoing messages, driven by events.

Nothing here polls. A step runs when something happened (a message arrived, a user asked, a delivery
succeeded); a message is sent as soon as it is queued and retried with exponential back-off only while the peer
is unreachable or answers 5xx, until its deadline, when the process ends with the reason. Messages of one process
leave in the order they were queued. At start-up every unfinished step and undelivered message is resumed.

Every hop to the store thread costs a transaction and a wake-up of the loop, so the transaction that changes a
process also says what follows (`ProcessStatus`: is a step pending, which message is next in the outbox), and the
transaction that records a delivery also reads the next message. Such a look-ahead is used at once by the task
that asked for it, or dropped when a delivery of that process is already under way (that one reads for itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connector.control.apply import ProcessStatus, StepRunner
from connector.dsp.vocabulary import NegotiationState, TransferState
from connector.errors import ConnectorError
from connector.records.processes import OutboxEntry
from connector.store.interface import Store
from connector.store.sql import processes as repo
from connector.tasks import Tasks
from connector.web.peer_client import PeerClient, PeerUnavailable

log = logging.getLogger("connector.control")


class _Unknown:
    """The next outbox entry has not been read (as opposed to None: read, and there is none)."""


UNKNOWN = _Unknown()
Next = OutboxEntry | None | _Unknown
# The states in which a negotiation or a transfer has ended (the two share no other state name).
FINAL_STATES = frozenset(s.value for states in (NegotiationState, TransferState) for s in states if s.is_terminal)
READERS = {"negotiation": repo.get_negotiation, "transfer": repo.get_transfer}
MAX_ANNOUNCED = 4096


class Watch:
    """What the callers waiting on one process know between their reads of it: `changed` is set at its next
    change, and `state` is its state after the latest change when that change said so (None when it did not)."""

    def __init__(self) -> None:
        self.users = 0
        self.changed = asyncio.Event()
        self.state: str | None = None
        self.terminal = False


@dataclass
class DeliverySettings:
    retry_initial: float = 0.2
    retry_max: float = 30.0
    retry_not_found_for: float = 0.0


class Engine:
    def __init__(
        self, store: Store, tasks: Tasks, peers: PeerClient, runner: StepRunner, settings: DeliverySettings
    ) -> None:
        self.store = store
        self.tasks = tasks
        self.runner = runner
        self.settings = settings
        self.peers = peers
        self._steps: dict[str, asyncio.Task[Any]] = {}
        self._drains: dict[str, asyncio.Task[Any]] = {}
        self._again_steps: set[str] = set()
        self._again_drains: set[str] = set()
        self._closing = False
        self._watches: dict[str, Watch] = {}  # process id -> what its waiting callers share
        self._announced: dict[str, str] = {}  # process id -> the final state its log line announced

    # --- entry points ---------------------------------------------------------------------------------------

    def wake(self, process_kind: str, process_id: str, state: str | None = None) -> None:
        """Something happened to a process: run its pending step, then deliver what it queued."""
        if self._closing:
            return
        self._notify(process_kind, process_id, state)
        if process_id in self._steps:
            self._again_steps.add(process_id)
            return
        self._steps[process_id] = self.tasks.spawn(self._step_loop(process_kind, process_id), f"step:{process_id}")

    def deliver(self, process_kind: str, process_id: str, first: Next = UNKNOWN) -> None:
        """Send what `process_id` has queued; `first` is its next outbox entry when the caller just read it."""
        if self._closing:
            return
        if process_id in self._drains:
            self._again_drains.add(process_id)  # the running delivery reads again; `first` may be stale for it
            return
        if first is None:
            return
        self._drains[process_id] = self.tasks.spawn(self._drain(process_kind, process_id, first), f"drain:{process_id}")

    def settled(self, process_kind: str, process_id: str, status: ProcessStatus) -> None:
        """A transaction changed `process_id` and said what follows: run its pending step (which delivers after
        it), or deliver what it queued, without another transaction to find out."""
        if status.step_pending:
            self.wake(process_kind, process_id, status.state)
            return
        if self._closing:
            return
        self._notify(process_kind, process_id, status.state)
        if process_id in self._steps:  # a step is running: it delivers when it ends
            self._again_steps.add(process_id)
            return
        self.deliver(process_kind, process_id, status.next_message)

    async def resume(self) -> int:
        """After a start: pick up every unfinished step and every undelivered message."""

        def pending(db: Any) -> tuple[list[tuple[str, str]], list[str]]:
            work = [("negotiation", n.id) for n in repo.open_negotiations(db) if n.pending]
            work += [("transfer", t.id) for t in repo.open_transfers(db) if t.pending]
            return work, repo.outbox_processes(db)

        work, outbox = await self.store.read(pending)
        kinds = await self.store.read(
            lambda db: {pid: ("negotiation" if repo.get_negotiation(db, pid) else "transfer") for pid in outbox}
        )
        for process_kind, pid in work:
            self.wake(process_kind, pid)
        for pid in outbox:
            if pid not in self._steps:
                self.deliver(kinds[pid], pid)
        if work or outbox:
            log.info("resumed unfinished work", extra={"steps": len(work), "outbox_processes": len(outbox)})
        return len(work) + len(outbox)

    async def close(self) -> None:
        self._closing = True
        tasks = list(self._steps.values()) + list(self._drains.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _notify(self, process_kind: str, process_id: str, state: str | None = None) -> None:
        """`process_id` changed; `state` is its committed state now, when the caller read it."""
        if state in FINAL_STATES:
            self._announce(process_kind, process_id, state)
        watch = self._watches.get(process_id)
        if watch is None:
            return
        watch.state = state
        watch.terminal = state in FINAL_STATES
        watch.changed.set()
        watch.changed = asyncio.Event()  # for the change after this one

    def _announce(self, process_kind: str, process_id: str, state: str) -> None:
        """One log line when a process has ended (committed), so that an operator reading the log sees how each
        negotiation and transfer ended, and why, without asking the API."""
        if self._announced.get(process_id) == state:
            return
        if len(self._announced) >= MAX_ANNOUNCED:
            self._announced.clear()  # a repeated line at worst
        self._announced[process_id] = state
        if state != "TERMINATED":
            log.info("%s %s", process_kind, state, extra={"process_id": process_id})
        elif not self._closing:  # the line names the reason, which only the stored record holds
            self.tasks.spawn(self._announce_termination(process_kind, process_id), f"announce:{process_id}")

    async def _announce_termination(self, process_kind: str, process_id: str) -> None:
        record = await self.store.read(READERS[process_kind], process_id)
        if record is not None and str(record.state) == "TERMINATED":
            log.info(
                "%s TERMINATED: %s",
                process_kind,
                record.reason or "no reason given",
                extra={"process_id": process_id, "peer": record.peer_id},
            )

    @contextlib.contextmanager
    def watching(self, process_id: str) -> Iterator[Watch]:
        """How API callers wait for a process without polling: take `changed` BEFORE reading the state you wait
        on, and after it is set, `state` tells whether reading the process again can be worth it."""
        watch = self._watches.get(process_id)
        if watch is None:
            watch = self._watches[process_id] = Watch()
        watch.users += 1
        try:
            yield watch
        finally:
            watch.users -= 1
            if watch.users == 0 and self._watches.get(process_id) is watch:
                del self._watches[process_id]

    @staticmethod
    async def wait_for(event: asyncio.Event, timeout: float) -> bool:
        """Wait until `event` is set (True) or `timeout` seconds have passed (False)."""
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # --- steps ----------------------------------------------------------------------------------------------

    async def _step_loop(self, process_kind: str, process_id: str) -> None:
        next_entry: Next = UNKNOWN
        try:
            while True:
                status = await self.store.run(self.runner.perform, process_kind, process_id)
                more = status.step_pending
                next_entry = UNKNOWN if more else status.next_message
                self._notify(process_kind, process_id, status.state)
                if more:
                    continue
                if process_id in self._again_steps:
                    self._again_steps.discard(process_id)
                    continue
                break
        except ConnectorError as exc:
            log.error("step failed", extra={"process_id": process_id, "reason": exc.reason})
            next_entry = UNKNOWN
        finally:
            self._steps.pop(process_id, None)
        # Deliver what the step queued in this same task (one task less per step), unless a delivery runs.
        if self._closing or next_entry is None:
            return
        if process_id in self._drains:
            self._again_drains.add(process_id)
            return
        task = asyncio.current_task()
        assert task is not None
        self._drains[process_id] = task
        await self._drain(process_kind, process_id, next_entry)

    # --- delivery -------------------------------------------------------------------------------------------

    async def _drain(self, process_kind: str, process_id: str, first: Next = UNKNOWN) -> None:
        entry = first
        try:
            while True:
                if isinstance(entry, _Unknown):
                    entry = await self.store.read(repo.next_outbox, process_id)
                if entry is None:
                    if process_id in self._again_drains:
                        self._again_drains.discard(process_id)
                        entry = UNKNOWN
                        continue
                    break
                try:
                    more, entry, state = await self._deliver_one(entry)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a bug must not strand the message: log it, try again shortly
                    log.exception("delivery failed unexpectedly; retrying", extra={"process_id": process_id})
                    await asyncio.sleep(self.settings.retry_max)
                    entry = UNKNOWN
                    continue
                if more:
                    self.wake(process_kind, process_id, state)
                else:
                    self._notify(process_kind, process_id, state)
        finally:
            self._drains.pop(process_id, None)

    def _delivered(self, db: Any, entry: OutboxEntry, response: Any) -> tuple[bool, Next, str | None]:
        status = self.runner.delivered(db, entry, response)
        return status.step_pending, status.next_message, status.state

    async def _failed(self, entry: OutboxEntry, reason: str) -> None:
        """The message cannot be delivered: the process ends with `reason` (unless it had ended already)."""
        await self.store.run(self.runner.delivery_failed, entry, reason)
        log.warning(
            "delivery failed",
            extra={"process_id": entry.process_id, "type": entry.message_type, "peer": entry.peer_id, "reason": reason},
        )
        self._notify(entry.process_kind, entry.process_id, "TERMINATED")  # announced if it did end so

    async def _deliver_one(self, entry: OutboxEntry) -> tuple[bool, Next, str | None]:
        """Deliver one message: (another step became pending, the next outbox entry if it was read, the
        process's state when it was read)."""
        delay = self.settings.retry_initial
        first_attempt = datetime.now(UTC)
        last_error = entry.last_error or ""
        while True:
            now = datetime.now(UTC)
            if entry.not_before is not None and entry.not_before > now:
                await asyncio.sleep((entry.not_before - now).total_seconds())
            retryable = False
            try:
                # The body as queued goes on the wire as it is: never parsed again to be written again.
                response = await self.peers.post(
                    entry.url, None, expected_peer=entry.peer_id, body_json=entry.body_json
                )
            except PeerUnavailable as exc:
                retryable, last_error = True, exc.reason
            except ConnectorError as exc:  # e.g. the server is not the participant we meant to talk to
                await self._failed(entry, f"could not deliver {entry.message_type}: {exc.reason}")
                return False, UNKNOWN, None
            else:
                if response.ok:
                    return await self.store.run(self._delivered, entry, response.body)
                not_found_grace = (now - first_attempt).total_seconds() < self.settings.retry_not_found_for
                if response.status == 404 and not_found_grace:
                    retryable, last_error = True, f"404 from {entry.url}"
                else:
                    reason = (
                        f"the peer refused our {entry.message_type} with {response.status}: {response.error_reason()}"
                    )
                    await self._failed(entry, reason)
                    return False, UNKNOWN, None
            assert retryable
            if datetime.now(UTC) >= entry.deadline_at:
                await self._failed(
                    entry, f"the peer stayed unreachable past the delivery deadline; last error: {last_error}"
                )
                return False, UNKNOWN, None
            await self.store.run(repo.outbox_failed_attempt, entry.id, last_error)
            log.info(
                "delivery retry",
                extra={
                    "process_id": entry.process_id,
                    "type": entry.message_type,
                    "in_s": round(delay, 2),
                    "error": last_error,
                },
            )
            remaining = (entry.deadline_at - datetime.now(UTC)).total_seconds()
            await asyncio.sleep(max(0.0, min(delay, remaining)))
            delay = min(delay * 2, self.settings.retry_max)
            # The process may have ended meanwhile (the peer terminated it): then nothing is left to send.
            current = await self.store.read(repo.next_outbox, entry.process_id)
            if current is None or current.id != entry.id:
                return False, current, None
