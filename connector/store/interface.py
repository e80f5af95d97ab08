"""The store seam: what the rest of the node depends on, whatever database holds its state.

`Store` runs functions in transactions; every such function takes a `Tx` first, the handle of the transaction
it runs in. The node's statements (connector.store.sql) use nothing but `Tx`, and are written in SQL that SQLite
and PostgreSQL both accept: `?` placeholders (a backend whose driver wants another style translates them),
`INSERT ... ON CONFLICT (...) DO ...` for upserts, `RETURNING` for assigned keys. Where the dialects differ, a
statement asks `tx.dialect`.

What the database raises reaches the caller of `run` or `read` as connector.store.errors (StoreConflict,
StoreUnavailable, StoreError), never as the driver's own exceptions; inside a transaction, a statement that may be
refused runs in `tx.savepoint()`, which turns the driver's error into those and keeps the transaction usable.

Every store also says how the processes that serve the node from it share their work (`Store.coordination`): an
SQLite store is one process's, which is granted every claim at once; a PostgreSQL store may be shared by several
replicas of the node (connector.store.replicas).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")

Dialect = Literal["sqlite", "postgresql"]


class Row(Protocol):
    """A result row: read by position (`row[0]`) or by column name (`row["id"]`); `dict(row)` maps names to values."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """What a statement returns: its rows (iterated or fetched) and, for a change, how many rows it touched."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...  # a Row, or None when there is none left

    def fetchall(self) -> list[Any]: ...  # Rows

    def __iter__(self) -> Iterator[Any]: ...  # Rows


class Tx(Protocol):
    """The open transaction a store function runs in. It is only valid during that call, on the store's thread."""

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]], /) -> Cursor: ...

    def query(self, sql: str, params: Sequence[Any] = (), /) -> Iterator[dict[str, Any]]:
        """The rows of a SELECT, each as a dict by column name."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A block that, when it raises, is undone alone and leaves the transaction usable (PostgreSQL otherwise
        refuses every statement after a failed one until the transaction ends); a driver's error raised in it
        leaves the block as a connector.store.errors error."""
        ...


class Coordination(Protocol):
    """How the replicas of one node (processes serving it from the same database) share its work and tell each other
    what changed. Work is claimed by name (`kind:id`, e.g. `negotiation:urn:uuid:...`) for as long as a block runs,
    so that each piece is done by one replica at a time and taken over when that replica dies; signals reach the
    other replicas, never the one that sent them. Handlers and claimants are called on the event loop."""

    @property
    def replica(self) -> str:
        """This process's name among the node's replicas."""
        ...

    def hold(self, name: str, announce: bool = True) -> AbstractAsyncContextManager[bool]:
        """Claim `name` for the duration of the block (claims of one process nest): the block gets whether this
        process holds it. With `announce`, a claim held by another replica tells that replica to look at `name`
        again (the caller just committed work for it)."""
        ...

    def holds(self, name: str) -> bool:
        """Whether this process holds `name` now (a claim is lost when the process was taken for dead)."""
        ...

    def claimant(self, kind: str, wake: Callable[[str], None], sweep: Callable[[], Awaitable[Any]]) -> None:
        """Who takes work of `kind`: `wake(id)` when work named `kind:id` is this process's to do (another replica
        asked, or died holding it), `sweep()` to look for work of its kind that no replica holds."""
        ...

    def on(self, topic: str, handler: Callable[[str], None]) -> None:
        """Call `handler(body)` for each signal on `topic` from another replica."""
        ...

    def signal(self, topic: str, body: str) -> None:
        """Tell the other replicas (at once, without waiting; nothing when there are none)."""
        ...

    async def start(self) -> None:
        """Once every claimant and handler is in place: take over work of replicas that died, sweep now and then."""
        ...

    def healthy(self) -> bool:
        """Whether this process still counts as a live replica (its claims are its own)."""
        ...


class Store(Protocol):
    @property
    def coordination(self) -> Coordination: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(tx, *args)` in one write transaction, committed before this returns; all or nothing. What `fn`
        raises is raised here (a database's error as a connector.store.errors error), and nothing of it is kept."""
        ...

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(tx, *args)` for reading only: whatever it changes is rolled back."""
        ...

    async def healthy(self) -> bool: ...

    async def schema_version(self) -> int:
        """The number of the last migration applied to the database."""
        ...

    def on_undo(self, hook: Callable[[], None]) -> None:
        """Call `hook` (on the thread that rolled it back) whenever a transaction's writes are rolled back."""
        ...

    def at_write_begin(self, query: str, hook: Callable[[Any], None]) -> None:
        """Where other processes write to the same database (the node's replicas), run `query` (a SELECT without
        parameters) at the start of every write transaction, and hand `hook` its first row (None when it has none)
        before the transaction's functions run, so that what memory holds about the store can follow what the
        others wrote. A store only this process writes never calls `hook`."""
        ...
