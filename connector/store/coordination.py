"""Sharing a node's work between the processes that serve it: the store seam's `Coordination`, as one process has
it (`Solo`: every claim granted at once, no one to signal), and the bookkeeping of claims every implementation
shares (`Holdings`: claims of one process nest, so that work done under a claim may take it again).

What is claimed is named `kind:id`: `negotiation:<id>` and `transfer:<id>` (a process's outgoing messages, which
one replica delivers in order; its steps need no claim, each runs in a write transaction that reads the process
anew), `push:<transfer id>` (the data a provider pushes), `job:<name>` (work done once for the whole node, such
as a checkpoint of the evidence log).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

log = logging.getLogger("connector.store")


def work_name(kind: str, ident: str) -> str:
    return f"{kind}:{ident}"


def split_name(name: str) -> tuple[str, str]:
    """(kind, id) of a work name."""
    kind, _, ident = name.partition(":")
    return kind, ident


class _Granted:
    """The block of a claim that needs no asking."""

    async def __aenter__(self) -> bool:
        return True

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


GRANTED = _Granted()


class Solo:
    """The node is this one process (an SQLite store is one process's): it holds every claim, and no other process
    needs telling anything."""

    replica = "solo"

    def hold(self, name: str, announce: bool = True) -> _Granted:
        return GRANTED

    def holds(self, name: str) -> bool:
        return True

    def claimant(self, kind: str, wake: Callable[[str], None], sweep: Callable[[], Awaitable[Any]]) -> None:
        return None

    def on(self, topic: str, handler: Callable[[str], None]) -> None:
        return None

    def signal(self, topic: str, body: str) -> None:
        return None

    async def start(self) -> None:
        return None

    def healthy(self) -> bool:
        return True


SOLO = Solo()

Claim = Callable[[str, bool], Awaitable[bool]]  # (name, announce) -> whether this process holds it now
Release = Callable[[str], Awaitable[None]]


class Holdings:
    """The names this process holds, each with the number of blocks holding it: claimed (`claim`) when the first
    block opens, given up (`release`) when the last one ends. Blocks that open while the first claim is on its way
    wait for its answer instead of asking again. When the process learns that it lost its claims (it was taken for
    dead), `lost` forgets them all; the blocks still open then end without giving up what they no longer hold."""

    def __init__(self, claim: Claim, release: Release) -> None:
        self._claim = claim
        self._release = release
        self._held: dict[str, int] = {}
        self._claiming: dict[str, asyncio.Future[bool]] = {}
        self._epoch = 0  # which life of this process's claims a block belongs to (a new one after `lost`)

    def __contains__(self, name: str) -> bool:
        return name in self._held

    def names(self) -> list[str]:
        return list(self._held)

    def lost(self) -> None:
        self._held.clear()
        self._epoch += 1

    def hold(self, name: str, announce: bool = True) -> _Block:
        return _Block(self, name, announce)

    async def acquire(self, name: str, announce: bool) -> bool:
        while True:
            count = self._held.get(name)
            if count is not None:
                self._held[name] = count + 1
                return True
            pending = self._claiming.get(name)
            if pending is not None:
                try:
                    granted = await asyncio.shield(pending)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    return False
                if not granted:
                    return False
                continue  # held now (unless already given up again): count this block in
            pending = asyncio.get_running_loop().create_future()
            self._claiming[name] = pending
            try:
                granted = await self._claim(name, announce)
            except BaseException:
                pending.set_result(False)
                raise
            finally:
                self._claiming.pop(name, None)
            if granted:
                self._held[name] = 1
            pending.set_result(granted)
            return granted

    async def give_up(self, name: str, epoch: int) -> None:
        if epoch != self._epoch:
            return  # claimed in an earlier life: nothing of it is held any more
        count = self._held.get(name, 0)
        if count > 1:
            self._held[name] = count - 1
            return
        if count == 1:
            del self._held[name]
            try:
                await self._release(name)
            except Exception as exc:  # the claim lapses with this replica at worst
                log.warning("a claim was not given up: %s", exc, extra={"work": name})


class _Block:
    __slots__ = ("_holdings", "_name", "_announce", "_held", "_epoch")

    def __init__(self, holdings: Holdings, name: str, announce: bool) -> None:
        self._holdings = holdings
        self._name = name
        self._announce = announce
        self._held = False
        self._epoch = 0

    async def __aenter__(self) -> bool:
        self._epoch = self._holdings._epoch
        self._held = await self._holdings.acquire(self._name, self._announce)
        return self._held

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._held:
            await self._holdings.give_up(self._name, self._epoch)


__all__ = ["GRANTED", "SOLO", "Holdings", "Solo", "split_name", "work_name"]
