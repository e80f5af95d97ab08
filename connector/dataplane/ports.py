"""What the data plane needs of the rest of the node: narrow ports, filled in by the composition root (the control
plane's `TransferControl`, the trust edge's `PeerStanding`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from cryptography import x509

from connector.errors import Problem
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


class UsageDuties(Protocol):
    """The duty service's side of the data plane: data received, and data that may not be offered onward."""

    async def received(self, transfer_id: str, file: str | None) -> Any:
        """Consumer: the data of a transfer arrived, its seal verified, and was written to `file`."""
        ...

    async def withheld_source(self, source: Mapping[str, Any]) -> str | None:
        """Provider: why an asset's source may not be served (it reads data received under an agreement that
        prohibits distributing it), or None."""
        ...


class PeerStanding(Protocol):
    async def standing(
        self,
        peer_id: str,
        claims: Mapping[str, Any] | None,
        certificate: x509.Certificate | None,
        *,
        method: str,
        path: str,
    ) -> Problem | None:
        """None while the peer still stands as it did when the transfer was requested: `certificate` (when given)
        not revoked, and every credential verified then (`claims`, as stored with the transfer) still valid, from
        an issuer a trust list in force recognises for its types, and neither revoked nor suspended on a status
        list no older than trust.status_max_age. Otherwise why not: a code ending in ``.unavailable`` when it could
        not be decided now (try again), any other a refusal for good. Refusals are recorded (verifications)."""
        ...
