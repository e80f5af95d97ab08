"""Running a node until the operator stops it (`connector serve`)."""

from __future__ import annotations

import gc
import logging

from connector.config import Config
from connector.node.wiring import running
from connector.signals import on_hangup, until_stopped

log = logging.getLogger("connector.node")

# Allocations between collections of the youngest generation. Each negotiation allocates tens of thousands of
# short-lived objects (messages, records, rows), nearly all freed at once by reference counting; the default
# (700) starts a collection every few hundred of them, and every collection also walks what survived it.
GC_THRESHOLD = (20_000, 20, 20)


async def serve(config: Config, initialise: bool = False) -> None:
    """Run a node until SIGINT or SIGTERM; SIGHUP reloads its identity and what it offers (`initialise`: see
    wiring.running)."""
    async with running(config, initialise=initialise) as node, on_hangup(node.reload):
        _tune_collector()
        await until_stopped()
        log.info("shutting down: finishing in-flight requests")


def _tune_collector() -> None:
    """A long-running server: what start-up loaded stays for good (frozen out of every later collection), and
    cyclic garbage is collected less often. Reference counting, which frees nearly everything, is untouched."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
