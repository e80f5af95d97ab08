"""The store seam: what the rest of the node depends on, whatever database holds its state.

`Store` runs functions in transactions; every such function takes a `Tx` first, the handle of the transaction
it runs in. The node's statements (connector.store.sql) use nothing but `Tx`, and are written in SQL that SQLite
and PostgreSQL both accept: `?` placeholders (a backend whose driver wants another style translates them),
`INSERT ... ON CONFLICT (...) DO ...` for upserts, `RETURNING` for assigned keys. Where the dialects differ, a
statement asks `tx.dialect`.

What the database raises reaches the caller of `run` or `read` as connector.store.errors (StoreConflict,
StoreUnavailable, StoreError), never as the driver's own exceptions; inside a transaction, a statement that may be
refused runs in `tx.savepoint()`, which turns the driver's error into those and keeps the transaction usable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
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


class Store(Protocol):
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
