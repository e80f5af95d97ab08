"""What the data plane needs of the control plane: a narrow port, filled in by the composition root."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from connector.policy.seam import Verdict
from connector.records.processes import Transfer

Tx = Any  # the store's transaction handle (see connector.store)


class TransferControl(Protocol):
    def admission(self, tx: Tx, transfer: Transfer) -> Verdict:
        """May data of `transfer` flow now (its agreement's policy, on what is known of the peer)? Recorded."""
        ...

    def note(
        self, tx: Tx, transfer: Transfer, cause: str, why: str | None = None, detail: Mapping[str, Any] | None = None
    ) -> None:
        """A history entry of the transfer (no state change)."""
        ...

    async def transfer_command(self, transfer_id: str, action: str, reason: str | None) -> Any:
        """complete | terminate | suspend | resume the transfer, as a user could (a flow ended or failed)."""
        ...
