"""Several replicas of one node on one PostgreSQL database: claims on work, liveness, and what they tell each other.

Each `connector serve` process on the database is a replica with a name of its own (host, process id and a random
part), registered in `replicas` with `alive_until` (the database's clock, so that the replicas' clocks need not
agree), which it renews every third of `store.replica_lease`. Work is claimed by name in `work_claims`: a claim is
granted when the name is free, already this replica's, or held by a replica that is no longer alive. So work is
done by one replica at a time, and a replica that dies (killed, its machine lost, cut off from the database) keeps
its claims only until its lease runs out: the next renewal of another replica finds it gone, deletes it with its
claims, and takes them (`Coordination.claimant`'s wake), then sweeps for work that the dead one had committed but
not yet claimed. A replica that finds its own row gone (it was taken for dead: a pause or a cut longer than the
lease) forgets its claims, registers again and sweeps.

Nothing polls for work. Replicas wake each other with LISTEN/NOTIFY on one channel, messages
`<topic> <replica that sent it> <body>`, sent when the transaction that warrants them commits:

- `process <replica> <kind> <state> <id>` (a trigger on negotiations and transfers): callers waiting for the
  process on another replica see its new state; a transfer that stops has its streams stopped on every replica.
- `definitions <replica> <table>` (a trigger on assets, policies, offers): the catalogue is read again.
- `work <replica> <holder> <name>`: a replica committed work for `name` but `holder` holds it, so `holder` looks
  at it again (it may have been about to let it go).
- `halt <replica> <transfer>`: a new pull of the transfer started; the older one stops wherever it runs.
- `left <replica> -`: a replica stopped and gave up its claims: the others sweep at once.

What a notification cannot carry is a guarantee: one sent while a replica's listening connection was down is
lost. So a replica sweeps when its listening connection comes back, and every `store.sweep_interval` seconds (a
slow safety net, not how work normally moves); a sweep looks at every unfinished process and delivery, as a
start does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg

from connector.errors import ConnectorError
from connector.store.coordination import Holdings, _Block, split_name
from connector.store.errors import StoreError
from connector.store.interface import Tx
from connector.store.migrations import NOTIFY_CHANNEL

if TYPE_CHECKING:
    from connector.store.postgres import PostgresStore

log = logging.getLogger("connector.store")

# The database's clock in milliseconds since the epoch: every replica's lease is measured by the same clock.
NOW_MS = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
LISTEN_RETRY = 1.0  # seconds between attempts to listen again after the connection was lost
LISTEN_WAKE = 10.0  # seconds the listening thread waits for a notification before it looks whether to stop
LISTEN_START = 10.0  # seconds a replica opening waits until it listens

_CLAIM = f"""
    INSERT INTO work_claims(name, replica, claimed_at) VALUES (?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET replica = EXCLUDED.replica, claimed_at = EXCLUDED.claimed_at
    WHERE work_claims.replica = EXCLUDED.replica
       OR NOT EXISTS (SELECT 1 FROM replicas r WHERE r.id = work_claims.replica AND r.alive_until > {NOW_MS})
    RETURNING replica
"""


def replica_name() -> str:
    """A name for this process among the node's replicas: where it runs, and a random part (process ids repeat)."""
    host = socket.gethostname().split(".")[0][:24] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Replicas:
    """The `Coordination` of a PostgreSQL store shared by the replicas of one node."""

    def __init__(self, store: PostgresStore, replica: str, lease: float, sweep_interval: float) -> None:
        self.store = store
        self._replica = replica
        self.lease = lease
        self.sweep_interval = sweep_interval
        self.holdings = Holdings(self._claim, self._release)
        self._handlers: dict[str, list[Callable[[str], None]]] = {}
        self._claimants: dict[str, tuple[Callable[[str], None], Callable[[], Awaitable[Any]]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: threading.Thread | None = None
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._taking_over = False
        self._renewed = 0.0  # time.monotonic() of the last renewal
        self._sweeping: asyncio.Task[None] | None = None
        self._sweep_again = False

    @property
    def replica(self) -> str:
        return self._replica

    # --- the seam -------------------------------------------------------------------------------------------

    def hold(self, name: str, announce: bool = True) -> _Block:
        return self.holdings.hold(name, announce)

    def holds(self, name: str) -> bool:
        return name in self.holdings

    def claimant(self, kind: str, wake: Callable[[str], None], sweep: Callable[[], Awaitable[Any]]) -> None:
        self._claimants[kind] = (wake, sweep)

    def on(self, topic: str, handler: Callable[[str], None]) -> None:
        self._handlers.setdefault(topic, []).append(handler)

    def signal(self, topic: str, body: str) -> None:
        """Tell the other replicas now: a notification sent on a connection of its own, outside any transaction."""
        payload = f"{topic} {self._replica} {body}"
        try:
            future = self.store.notify(NOTIFY_CHANNEL, payload)
        except ConnectorError:
            return  # the store is closing
        future.add_done_callback(_log_failure)

    async def start(self) -> None:
        """Everything is in place: from now on, renewals also take over the work of replicas that died."""
        self._taking_over = True
        self._tasks.append(asyncio.get_running_loop().create_task(self._sweep_now_and_then(), name="replica-sweep"))

    def healthy(self) -> bool:
        return time.monotonic() - self._renewed < self.lease

    # --- lifecycle (the store's) -------------------------------------------------------------------------------

    async def open(self) -> None:
        """Register, listen, renew."""
        self._loop = asyncio.get_running_loop()
        await self.store.run(self._register)
        self._renewed = time.monotonic()
        self._listener = threading.Thread(target=self._listen, name="store-listener", daemon=True)
        self._listener.start()
        # Claims come next: this replica must hear the others from the start (else it sweeps once it does).
        await asyncio.to_thread(self._listening.wait, LISTEN_START)
        self._tasks.append(self._loop.create_task(self._renew_now_and_then(), name="replica-lease"))
        log.info(
            "replica registered",
            extra={"replica": self._replica, "lease_s": self.lease, "sweep_interval_s": self.sweep_interval},
        )

    async def close(self) -> None:
        """Stop renewing, give up every claim and the registration (the others sweep at once), stop listening."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.holdings.lost()
        try:
            await self.store.run(self._leave)
        except (StoreError, ConnectorError) as exc:  # the others take over once the lease runs out
            log.warning("replica not deregistered: %s", exc)
        self._stopping.set()
        with contextlib.suppress(ConnectorError, StoreError, psycopg.Error):
            await asyncio.wrap_future(self.store.notify(NOTIFY_CHANNEL, f"stop {self._replica} -"))
        listener, self._listener = self._listener, None
        if listener is not None:
            await asyncio.to_thread(listener.join, LISTEN_WAKE + 1)

    # --- statements (in the store's write transactions) -------------------------------------------------------

    def _register(self, tx: Tx) -> None:
        tx.execute(
            f"INSERT INTO replicas(id, host, pid, started_at, alive_until) VALUES (?, ?, ?, ?, {NOW_MS} + ?)",
            [self._replica, socket.gethostname()[:255], os.getpid(), _now(), int(self.lease * 1000)],
        )

    def _leave(self, tx: Tx) -> None:
        tx.execute("DELETE FROM work_claims WHERE replica = ?", [self._replica])
        tx.execute("DELETE FROM replicas WHERE id = ?", [self._replica])
        tx.execute("SELECT pg_notify(?, ?)", [NOTIFY_CHANNEL, f"left {self._replica} -"])

    def _claim_tx(self, tx: Tx, name: str, announce: bool) -> bool:
        if tx.execute(_CLAIM, [name, self._replica, _now()]).fetchone() is not None:
            return True
        if announce:
            row = tx.execute("SELECT replica FROM work_claims WHERE name = ?", [name]).fetchone()
            if row is not None:
                tx.execute("SELECT pg_notify(?, ?)", [NOTIFY_CHANNEL, f"work {self._replica} {row[0]} {name}"])
        return False

    def _release_tx(self, tx: Tx, name: str) -> None:
        tx.execute("DELETE FROM work_claims WHERE name = ? AND replica = ?", [name, self._replica])

    def _renew(self, tx: Tx, take_over: bool) -> tuple[bool, list[str], list[str]]:
        """Renew this replica's lease (registering again if it was taken for dead: `lost`); when taking over, remove
        the replicas whose lease ran out and every claim left without a live replica. (lost, dead, claims taken)"""
        lease_ms = int(self.lease * 1000)
        renewed = tx.execute(f"UPDATE replicas SET alive_until = {NOW_MS} + ? WHERE id = ?", [lease_ms, self._replica])
        lost = renewed.rowcount == 0
        if lost:
            self._register(tx)
        if not take_over:
            return lost, [], []
        dead = [row[0] for row in tx.execute(f"DELETE FROM replicas WHERE alive_until < {NOW_MS} RETURNING id")]
        taken = [
            row[0]
            for row in tx.execute(
                "DELETE FROM work_claims WHERE NOT EXISTS (SELECT 1 FROM replicas r WHERE r.id = work_claims.replica) "
                "RETURNING name"
            )
        ]
        return lost, dead, taken

    # --- claims ---------------------------------------------------------------------------------------------

    async def _claim(self, name: str, announce: bool) -> bool:
        return await self.store.run(self._claim_tx, name, announce)

    async def _release(self, name: str) -> None:
        await self.store.run(self._release_tx, name)

    def _wake(self, name: str) -> None:
        kind, ident = split_name(name)
        claimant = self._claimants.get(kind)
        if claimant is not None:
            claimant[0](ident)

    # --- renewals and sweeps ----------------------------------------------------------------------------------

    async def _renew_now_and_then(self) -> None:
        interval = self.lease / 3
        while True:
            await asyncio.sleep(interval)
            try:
                lost, dead, taken = await self.store.run(self._renew, self._taking_over)
            except (StoreError, ConnectorError) as exc:
                log.warning("replica lease not renewed: %s", exc, extra={"replica": self._replica})
                continue
            self._renewed = time.monotonic()
            if lost:
                log.error(
                    "this replica was taken for dead (no renewal within store.replica_lease): its claims went to "
                    "others; it registered again",
                    extra={"replica": self._replica},
                )
                self.holdings.lost()
                self.sweep()
            if dead or taken:
                log.warning(
                    "work of replicas that stopped renewing taken over",
                    extra={"replica": self._replica, "dead": dead, "claims": len(taken)},
                )
                for name in taken:
                    self._wake(name)
                self.sweep()

    async def _sweep_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            self.sweep()

    def sweep(self) -> None:
        """Ask every claimant to look for work no replica holds (once more after the sweep under way, if one is)."""
        if not self._taking_over:
            return
        if self._sweeping is not None and not self._sweeping.done():
            self._sweep_again = True
            return
        assert self._loop is not None
        self._sweeping = self._loop.create_task(self._sweep(), name="replica-sweep-once")

    async def _sweep(self) -> None:
        while True:
            self._sweep_again = False
            for kind, (_, sweep) in list(self._claimants.items()):
                try:
                    await sweep()
                except (StoreError, ConnectorError) as exc:
                    if self._stopping.is_set() or getattr(exc, "code", None) == "store.closed":
                        return  # the node is stopping: the next replica to sweep takes the work over
                    log.warning("sweep for unclaimed work failed: %s", exc, extra={"work": kind})
            if not self._sweep_again:
                return

    # --- listening (a thread of its own, with a connection of its own) -----------------------------------------

    def _listen(self) -> None:
        first = True
        while not self._stopping.is_set():
            try:
                conn = self.store.connect_listener()
            except ConnectorError as exc:
                log.warning("cannot listen for the other replicas: %s", exc.reason)
                self._stopping.wait(LISTEN_RETRY)
                continue
            try:
                conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                self._listening.set()
                if not first:  # what was sent while nobody listened is lost: look for it
                    log.info("listening for the other replicas again", extra={"replica": self._replica})
                    self._from_thread(self.sweep)
                first = False
                while not self._stopping.is_set():
                    for note in conn.notifies(timeout=LISTEN_WAKE):
                        self._from_thread(self._received, note.payload)
                        if self._stopping.is_set():
                            break
            except psycopg.Error as exc:
                if not self._stopping.is_set():
                    log.warning("lost the connection listening for the other replicas: %s", str(exc).strip())
                    self._stopping.wait(LISTEN_RETRY)
            finally:
                with contextlib.suppress(psycopg.Error):
                    conn.close()

    def _from_thread(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(fn, *args)

    def _received(self, payload: str) -> None:
        topic, _, rest = payload.partition(" ")
        sender, _, body = rest.partition(" ")
        if sender == self._replica:
            return
        if topic == "work":
            holder, _, name = body.partition(" ")
            if holder == self._replica:
                self._wake(name)
            return
        if topic == "left":
            self.sweep()
            return
        for handler in self._handlers.get(topic, ()):
            try:
                handler(body)
            except Exception:  # one handler's bug must not silence the others
                log.exception("a replica's signal was not handled", extra={"topic": topic})


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("a signal to the other replicas was not sent: %s", future.exception())


__all__ = ["NOW_MS", "Replicas", "replica_name"]
