"""The store interface the rest of the node depends on.

It is deliberately narrow: domain operations, not SQL. The SQLite backend runs them on one worker thread; a
PostgreSQL backend for replicated deployments implements the same methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(db, *args)` in one write transaction; all or nothing."""
        ...

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(db, *args)` for reading only."""
        ...

    async def get_setting(self, key: str) -> str | None: ...

    async def put_setting(self, key: str, value: str) -> None: ...

    async def healthy(self) -> bool: ...

    def on_undo(self, hook: Callable[[], None]) -> None:
        """Call `hook` (on the store's thread) whenever a transaction is rolled back."""
        ...
