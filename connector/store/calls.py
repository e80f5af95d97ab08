"""Calls queued to a store's thread and their outcomes handed back to the event loops that wait for them (shared by
the backends: SQLite runs every call on its thread, PostgreSQL its writes)."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

WRITE, READ, RAW = "write", "read", "raw"  # a transaction of its own, a read rolled back, no transaction
MAX_GROUP = 48  # calls sharing one COMMIT: bounds how long the first of them waits for the others


@dataclass
class Call:
    mode: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    cancelled: bool = False  # set from the loop when the caller gave up: the call is skipped if not started
    outcome: tuple[bool, Any] = field(default=(False, None))  # (succeeded, result or exception)


def _settle(calls: list[Call], translate: Callable[[BaseException], BaseException]) -> None:
    """On the event loop: hand every call of a group its outcome (a driver's error as the store's own)."""
    for call in calls:
        if call.future.done():
            continue
        ok, value = call.outcome
        if ok:
            call.future.set_result(value)
        else:
            call.future.set_exception(translate(value))


def hand_back(group: list[Call], translate: Callable[[BaseException], BaseException]) -> None:
    """From the store's thread: wake each waiting loop once for the calls of `group` it waits for."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Call]] = {}
    for call in group:
        by_loop.setdefault(call.loop, []).append(call)
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, settled, translate)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            pass


async def submit(calls: queue.SimpleQueue[Call | None], mode: str, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    """Queue `fn(tx, *args)` for the store's thread and wait for its outcome (a caller that gives up before it
    started has it skipped)."""
    loop = asyncio.get_running_loop()
    call = Call(mode, fn, args, loop, loop.create_future())
    calls.put(call)
    try:
        result: T = await call.future
        return result
    except asyncio.CancelledError:
        call.cancelled = True
        raise


def next_group(calls: queue.SimpleQueue[Call | None]) -> list[Call] | None:
    """On the store's thread: wait for a call, then take those queued behind it (at most MAX_GROUP), leaving out
    the cancelled ones; None once the queue says stop (after the group before it)."""
    first = calls.get()
    if first is None:
        return None
    group = [first]
    while len(group) < MAX_GROUP:
        try:
            more = calls.get_nowait()
        except queue.Empty:
            break
        if more is None:
            calls.put(None)  # finish this group, then stop
            break
        group.append(more)
    return [c for c in group if not c.cancelled]
