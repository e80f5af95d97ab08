"""Waiting for a negotiation or a transfer through the management API (`GET ...?wait=STATES&timeout=S`), for as
long as the caller asked: one request is answered after 300 s at the most, so a longer wait asks again until its
time is up. Nothing but the standard library: `connector negotiate` loads this without the pull client.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

# The client's own way to the API: call(method, path, body, timeout) answers the API's JSON, or raises.
Call = Callable[[str, str, Any, float], Awaitable[Any]]

# The states a negotiation or a transfer ends in: the API answers a wait once the process is in one of them.
ENDED = frozenset({"FINALIZED", "COMPLETED", "TERMINATED"})


async def wait_for_state(call: Call, path: str, states: Collection[str], timeout: float) -> Any:
    """The process at `path` (`/v1/negotiations/ID`, `/v1/transfers/ID`) once it is in one of `states` or has
    ended, or as it is after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = max(deadline - time.monotonic(), 0.0)
        record = await call("GET", f"{path}?wait={','.join(states)}&timeout={left:.3f}", None, left + 10)
        if record.get("state") in states or record.get("state") in ENDED or time.monotonic() >= deadline:
            return record
