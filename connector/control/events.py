"""What happens to a process from outside, as values: a protocol message received from an authenticated peer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Peer:
    """The authenticated caller of a protocol request."""

    participant_id: str
    claims: Mapping[str, Any] | None = None  # claims_codec JSON of what was verified


@dataclass(frozen=True)
class Received:
    """A DSP message from `peer`, parsed (`message`) and as it came (`body`); `path_pid` is the process id of the
    request path (None on the paths that start a process)."""

    peer: Peer
    message: Any  # a negotiation or transfer message of connector.dsp.messages
    body: Mapping[str, Any]
    path_pid: str | None = None
