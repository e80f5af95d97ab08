"""Waiting for the operator's stop signal (SIGINT or SIGTERM), the one way every long-running command ends, and
reacting to SIGHUP (reload)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
log = logging.getLogger("connector.node")


@contextlib.asynccontextmanager
async def stop_requested() -> AsyncIterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (the handlers are removed afterwards)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


async def until_stopped() -> None:
    async with stop_requested() as stop:
        await stop.wait()


@contextlib.asynccontextmanager
async def on_hangup(action: Callable[[], Awaitable[Any]]) -> AsyncIterator[None]:
    """Run `action` on each SIGHUP while the block runs (one at a time; a hangup during a run is run after it)."""
    loop = asyncio.get_running_loop()
    wanted = asyncio.Event()

    async def serve_hangups() -> None:
        while True:
            await wanted.wait()
            wanted.clear()
            try:
                await action()
            except Exception:  # a failed reload must not end the hangups that follow
                log.exception("reload failed")

    worker = asyncio.ensure_future(serve_hangups())
    loop.add_signal_handler(signal.SIGHUP, wanted.set)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
