"""How the rest of the node hands records to the evidence log, as ports: the log itself lives in the node's
store (evidence.edge); a node without one is given `no_evidence` and `NO_EVIDENCE`.

`EvidenceSink` appends inside the caller's transaction (on the store's thread); `EvidenceRecorder` appends in a
transaction of its own (from the event loop)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class EvidenceSink(Protocol):
    """Appends one record to the evidence log inside the caller's transaction (committed with it, or not)."""

    def __call__(
        self,
        tx: Any,
        kind: str,
        *,
        process_id: str | None,
        peer: str | None,
        subject: Any = None,
        data: Mapping[str, Any] | None = None,
    ) -> None: ...


def no_evidence(tx: Any, kind: str, **kw: Any) -> None:
    return None


class EvidenceRecorder(Protocol):
    async def record(
        self,
        kind: str,
        *,
        process_id: str | None = None,
        peer: str | None = None,
        subject: Any = None,
        data: Mapping[str, Any] | None = None,
    ) -> Any:
        """Append one record in a transaction of its own."""
        ...


class NoEvidence:
    """A node that keeps no evidence log."""

    async def record(
        self,
        kind: str,
        *,
        process_id: str | None = None,
        peer: str | None = None,
        subject: Any = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        return None


NO_EVIDENCE = NoEvidence()
