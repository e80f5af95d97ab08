"""The control plane's event loop side: runs pending steps and delivers outgoing messages, driven by events.

Nothing here polls. A step runs when something happened (a message arrived, a user asked, a delivery
succeeded); a message is sent as soon as it is queued and retried with exponential back-off and jitter only while
the peer is unreachable or answers 5xx, until its deadline, when the process ends with the reason. Messages of one
process leave in the order they were queued. At start-up every unfinished step and undelivered message is resumed.

A store that fails (full, locked, read-only, away) fails a step or a delivery only for now: both are tried again
with back-off until the store works again, and nothing is lost meanwhile (what was not committed is still owed).

Several replicas of the node may share its store. A step needs no claim: it runs in a write transaction that reads
the process again after the store's write lock, so whichever replica takes a pending step first takes it, and
another finds it done. What leaves the node does: a process's messages are delivered by the replica holding its
claim (`Coordination.hold`), one at a time and in order; a replica that queued messages another holds the claim
for tells the holder, and the claim of a replica that dies is taken over. Callers waiting for a process on one
replica see the changes another replica made (`seen`). With one process, every claim is granted at once.

Every hop to the store thread costs a transaction and a wake-up of the loop, so the transaction that changes a
process also says what follows (`ProcessStatus`: is a step pending, which message is next in the outbox), and the
transaction that records a delivery also reads the next message. Such a look-ahead is used at once by the task
that asked for it, or dropped when a delivery of that process is already under way (that one reads for itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.backoff import Backoff
from connector.control.apply import ProcessStatus, StepRunner
from connector.dsp.vocabulary import NegotiationState, TransferState
from connector.errors import ConnectorError
from connector.records.processes import OutboxEntry
from connector.store.coordination import SOLO, work_name
from connector.store.errors import StoreError
from connector.store.interface import Coordination, Store
from connector.store.sql import processes as repo
from connector.tasks import Tasks
from connector.telemetry import NO_TELEMETRY, Telemetry
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
# A step or a delivery the store failed is tried again after these delays (with jitter): the store is the node's
# own, so it is asked again soon, but never in a tight loop while it stays full, locked or away.
STORE_RETRY_INITIAL = 0.05
STORE_RETRY_MAX = 5.0
# One attempt to deliver a message waits this long for the peer's answer at most, and never much past the delivery
# deadline (a peer that hangs is given up on in time): at least MIN_ATTEMPT.
ATTEMPT_TIMEOUT = 30.0
MIN_ATTEMPT = 1.0


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
        self,
        store: Store,
        tasks: Tasks,
        peers: PeerClient,
        runner: StepRunner,
        settings: DeliverySettings,
        telemetry: Telemetry = NO_TELEMETRY,
        claims: Coordination = SOLO,
    ) -> None:
        self.store = store
        self.tasks = tasks
        self.runner = runner
        self.settings = settings
        self.peers = peers
        self.meter = telemetry.meter
        self.tracer = telemetry.tracer  # a span per step and per message sent (each in the trace that caused it)
        self.claims = claims
        self._steps: dict[str, asyncio.Task[Any]] = {}
        self._drains: dict[str, asyncio.Task[Any]] = {}
        self._again_steps: set[str] = set()
        self._again_drains: set[str] = set()
        self._closing = False
        self._stopping = asyncio.Event()  # set by close(): waits for a retry end at once
        self._watches: dict[str, Watch] = {}  # process id -> what its waiting callers share
        self._announced: dict[str, str] = {}  # process id -> the final state its log line announced
        # Told when a process waiting for its peer is to be looked at (timers.WaitTimers.schedule, once made).
        self.checks: Callable[[datetime | None], None] = lambda at: None
        for kind in READERS:
            claims.claimant(kind, self._waker(kind), self.sweep)
        claims.on("process", self._changed_elsewhere)

    # --- entry points ---------------------------------------------------------------------------------------

    def wake(self, process_kind: str, process_id: str, state: str | None = None, announce: bool = True) -> None:
        """Something happened to a process: run its pending step, then deliver what it queued. `announce`: this
        replica just committed the work (a replica holding the process is told to look again)."""
        if self._closing:
            return
        self._notify(process_kind, process_id, state)
        if process_id in self._steps:
            self._again_steps.add(process_id)
            return
        self._steps[process_id] = self.tasks.spawn(
            self._step_loop(process_kind, process_id, announce), f"step:{process_id}"
        )

    def deliver(self, process_kind: str, process_id: str, first: Next = UNKNOWN, announce: bool = True) -> None:
        """Send what `process_id` has queued; `first` is its next outbox entry when the caller just read it."""
        if self._closing:
            return
        if process_id in self._drains:
            self._again_drains.add(process_id)  # the running delivery reads again; `first` may be stale for it
            return
        if first is None:
            return
        self._drains[process_id] = self.tasks.spawn(
            self._claimed_drain(process_kind, process_id, first, announce), f"drain:{process_id}"
        )

    def settled(self, process_kind: str, process_id: str, status: ProcessStatus) -> None:
        """A transaction changed `process_id` and said what follows: run its pending step (which delivers after
        it), or deliver what it queued, without another transaction to find out."""
        self.checks(status.check_at)
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

    async def resume(self, quiet: bool = False) -> int:
        """After a start (and in a replica's sweeps, `quiet`): pick up every unfinished step and undelivered message
        that no other replica holds."""

        def pending(db: Any) -> tuple[list[tuple[str, str]], list[str]]:
            work = [("negotiation", n.id) for n in repo.open_negotiations(db) if n.pending]
            work += [("transfer", t.id) for t in repo.open_transfers(db) if t.pending]
            return work, repo.outbox_processes(db)

        work, outbox = await self.store.read(pending)
        kinds = await self.store.read(
            lambda db: {pid: ("negotiation" if repo.get_negotiation(db, pid) else "transfer") for pid in outbox}
        )
        for process_kind, pid in work:
            self.wake(process_kind, pid, announce=False)
        for pid in outbox:
            if pid not in self._steps:
                self.deliver(kinds[pid], pid, announce=False)
        if (work or outbox) and not quiet:
            log.info("resumed unfinished work", extra={"steps": len(work), "outbox_processes": len(outbox)})
        return len(work) + len(outbox)

    async def sweep(self) -> None:
        """A replica's look for work no replica holds (after one died, or a notification was missed)."""
        await self.resume(quiet=True)

    def _waker(self, process_kind: str) -> Callable[[str], None]:
        """What runs a process of `process_kind` whose work became this replica's (asked by the replica that
        committed it, or taken over from one that died)."""

        def wake(process_id: str) -> None:
            self.wake(process_kind, process_id, announce=False)

        return wake

    def _changed_elsewhere(self, body: str) -> None:
        """Another replica committed a change of a process: callers waiting for it here see it."""
        process_kind, _, rest = body.partition(" ")
        state, _, process_id = rest.partition(" ")
        if process_kind in READERS and process_id:
            self.seen(process_id, state)

    def seen(self, process_id: str, state: str) -> None:
        """`process_id` is in `state` now, changed by another replica: wake whoever waits for it here."""
        watch = self._watches.get(process_id)
        if watch is not None:
            watch.state = state
            watch.terminal = state in FINAL_STATES
            watch.changed.set()
            watch.changed = asyncio.Event()

    async def close(self, grace: float = 0.0) -> None:
        """Stop: nothing new starts; a step or a delivery under way gets `grace` seconds to finish (with what its
        process queued meanwhile), but none waits for a retry; then the rest is cancelled. Whatever is left stays
        in the store and is resumed at the next start."""
        self._closing = True
        self._stopping.set()
        tasks = list(self._steps.values()) + list(self._drains.values())
        if grace > 0 and tasks:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _pause(self, seconds: float) -> bool:
        """Wait `seconds` unless the engine stops meanwhile; whether it may go on."""
        if not self._closing and seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)
        return not self._closing

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

    async def _step_loop(self, process_kind: str, process_id: str, announce: bool = True) -> None:
        next_entry: Next = UNKNOWN
        store_backoff = self._store_backoff()
        try:
            while True:
                failure: StoreError | None = None
                with self.tracer.span(f"step {process_kind}", attributes={"connector.process_id": process_id}) as span:
                    try:
                        status = await self.store.run(self.runner.perform, process_kind, process_id)
                    except StoreError as exc:
                        failure = exc
                    else:
                        span.set("connector.state", status.state or "")
                if failure is not None:
                    if not await self._store_failed("step", process_id, failure, store_backoff):
                        return  # stopping: the step stays pending in the store
                    continue
                store_backoff.reset()
                self.checks(status.check_at)
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
        # Deliver what the step queued in this same task (one task less per step), unless a delivery runs; also
        # while the node stops, within the grace it gives what is under way.
        if next_entry is None:
            return
        if process_id in self._drains:
            self._again_drains.add(process_id)
            return
        task = asyncio.current_task()
        assert task is not None
        self._drains[process_id] = task
        await self._claimed_drain(process_kind, process_id, next_entry, announce)

    @staticmethod
    def _store_backoff() -> Backoff:
        return Backoff(STORE_RETRY_INITIAL, STORE_RETRY_MAX)

    async def _store_failed(self, what: str, process_id: str, exc: StoreError, backoff: Backoff) -> bool:
        """The store failed a step or a delivery: say so, and wait before the next attempt (False: stopping)."""
        delay = backoff.next()
        log.warning(
            "%s postponed: the store failed: %s",
            what,
            exc,
            extra={"process_id": process_id, "attempt": backoff.attempts, "in_s": round(delay, 2)},
        )
        return await self._pause(delay)

    # --- delivery -------------------------------------------------------------------------------------------

    async def _claimed_drain(self, process_kind: str, process_id: str, first: Next, announce: bool) -> None:
        try:
            async with self.claims.hold(work_name(process_kind, process_id), announce) as held:
                if held:
                    await self._drain(process_kind, process_id, first)
        finally:  # (not held: another replica holds the process; it delivers)
            if self._drains.get(process_id) is asyncio.current_task():
                del self._drains[process_id]
                self._again_drains.discard(process_id)

    async def _drain(self, process_kind: str, process_id: str, first: Next = UNKNOWN) -> None:
        entry = first
        store_backoff = self._store_backoff()
        failures = Backoff(self.settings.retry_initial, max(self.settings.retry_initial, self.settings.retry_max))
        try:
            while True:
                try:
                    if isinstance(entry, _Unknown):
                        entry = await self.store.read(repo.next_outbox, process_id)
                    if entry is None:
                        if process_id in self._again_drains:
                            self._again_drains.discard(process_id)
                            entry = UNKNOWN
                            continue
                        break
                    more, entry, state = await self._deliver_one(entry)
                except asyncio.CancelledError:
                    raise
                except StoreError as exc:  # the message is still queued: deliver it once the store works again
                    if not await self._store_failed("delivery", process_id, exc, store_backoff):
                        break
                    entry = UNKNOWN
                    continue
                except Exception:  # a bug must not strand the message: log it, try again later
                    log.exception("delivery failed unexpectedly; retrying", extra={"process_id": process_id})
                    if not await self._pause(failures.next()):
                        break
                    entry = UNKNOWN
                    continue
                store_backoff.reset()
                if more:
                    self.wake(process_kind, process_id, state)
                else:
                    self._notify(process_kind, process_id, state)
        finally:
            self._drains.pop(process_id, None)

    async def _failed(self, entry: OutboxEntry, reason: str) -> None:
        """The message cannot be delivered: the process ends with `reason` (unless it had ended already)."""
        await self.store.run(self.runner.delivery_failed, entry, reason)
        log.warning(
            "delivery failed",
            extra={"process_id": entry.process_id, "type": entry.message_type, "peer": entry.peer_id, "reason": reason},
        )
        self._notify(entry.process_kind, entry.process_id, "TERMINATED")  # announced if it did end so

    def _left(self, deadline_at: datetime) -> float:
        """Seconds left of a message's delivery deadline by the node's clock: never more than the whole deadline (a
        clock set back since the message was queued does not lengthen it)."""
        left = (deadline_at - self.runner.clock()).total_seconds()
        return min(max(left, 0.0), self.runner.delivery_deadline.total_seconds())

    def _spacing(self, entry: OutboxEntry) -> float:
        """Seconds to wait before sending `entry` (message spacing): never more than the spacing itself, however
        the clock moved since it was queued."""
        spacing = self.runner.message_spacing
        if entry.not_before is None or spacing is None:
            return 0.0
        wait = (entry.not_before - self.runner.clock()).total_seconds()
        return min(max(wait, 0.0), spacing.total_seconds())

    async def _deliver_one(self, entry: OutboxEntry) -> tuple[bool, Next, str | None]:
        """Deliver one message: (another step became pending, the next outbox entry if it was read, the
        process's state when it was read)."""
        backoff = Backoff(self.settings.retry_initial, max(self.settings.retry_initial, self.settings.retry_max))
        # The node's clock says how much of the delivery deadline is left; from here on it is counted on the
        # monotonic clock, so that the wall clock jumping meanwhile neither ends the delivery early nor stretches it.
        monotonic = asyncio.get_running_loop().time
        first_attempt = monotonic()
        give_up_at = first_attempt + self._left(entry.deadline_at)
        last_error = entry.last_error or ""
        while True:
            spacing = self._spacing(entry)
            if spacing > 0 and not await self._pause(spacing):
                return False, None, None  # stopping: the message stays queued
            retryable = False
            try:
                # The body as queued goes on the wire as it is: never parsed again to be written again.
                with self.tracer.span(
                    f"dsp.send {entry.message_type}",
                    attributes={"connector.process_id": entry.process_id, "connector.peer": entry.peer_id},
                ):
                    response = await self.peers.post(
                        entry.url,
                        None,
                        expected_peer=entry.peer_id,
                        body_json=entry.body_json,
                        timeout=min(ATTEMPT_TIMEOUT, max(MIN_ATTEMPT, give_up_at - monotonic())),
                    )
            except PeerUnavailable as exc:
                retryable, last_error = True, exc.reason
            except ConnectorError as exc:  # e.g. the server is not the participant we meant to talk to
                await self._failed(entry, f"could not deliver {entry.message_type}: {exc.reason}")
                return False, UNKNOWN, None
            else:
                if response.ok:
                    status = await self.store.run(self.runner.delivered, entry, response.body)
                    self.checks(status.check_at)
                    return status.step_pending, status.next_message, status.state
                not_found_grace = monotonic() - first_attempt < self.settings.retry_not_found_for
                if response.status == 404 and not_found_grace:
                    retryable, last_error = True, f"404 from {entry.url}"
                else:
                    reason = (
                        f"the peer refused our {entry.message_type} with {response.status}: {response.error_reason()}"
                    )
                    await self._failed(entry, reason)
                    return False, UNKNOWN, None
            assert retryable
            if monotonic() >= give_up_at:
                await self._failed(
                    entry, f"the peer stayed unreachable past the delivery deadline; last error: {last_error}"
                )
                return False, UNKNOWN, None
            await self.store.run(repo.outbox_failed_attempt, entry.id, last_error)
            self.meter.delivery_retried(entry.message_type)
            delay = backoff.next()
            log.info(
                "delivery retry",
                extra={
                    "process_id": entry.process_id,
                    "type": entry.message_type,
                    "in_s": round(delay, 2),
                    "error": last_error,
                },
            )
            remaining = give_up_at - monotonic()
            if not await self._pause(max(0.0, min(delay, remaining))):
                return False, None, None  # stopping: the message stays queued for the next start
            # The process may have ended meanwhile (the peer terminated it): then nothing is left to send.
            current = await self.store.read(repo.next_outbox, entry.process_id)
            if current is None or current.id != entry.id:
                return False, current, None
