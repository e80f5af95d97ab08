"""What the control plane needs from the rest of the node, as ports the composition root fills in.

Steps run inside a store transaction (`Tx`), on the store's thread: every port method taking a `tx` reads and
writes only rows in that transaction and schedules any other work onto the event loop; none touches the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from connector.errors import Problem
from connector.evidence.recorder import EvidenceSink, no_evidence

if TYPE_CHECKING:
    from connector.records.processes import Negotiation, Transfer

Tx = Any  # the store's transaction handle (see connector.store)

__all__ = ["AgreementSigner", "DataPlane", "EvidenceSink", "Tx", "no_evidence"]


class DataPlane(Protocol):
    """Flows of bytes: started, resumed and stopped as transfers change; the control plane never touches bytes."""

    def start(self, tx: Tx, transfer: Transfer) -> dict[str, Any] | None:
        """Provider, REQUESTED -> STARTED: the data address to send (pull), or None (a push follows)."""
        ...

    def resume(self, tx: Tx, transfer: Transfer) -> dict[str, Any] | None:
        """Provider, SUSPENDED -> STARTED: as `start`."""
        ...

    def after_change(self, transfer: Transfer) -> None:
        """Called after every committed change of a transfer: stop streams, start a push when due."""
        ...

    def completed_by_peer(self, tx: Tx, transfer: Transfer) -> dict[str, Any]:
        """What the data plane can say about a transfer the peer reported complete (for the history)."""
        ...

    def push_destination(self, tx: Tx, transfer_id: str, agreement_id: str) -> dict[str, Any]:
        """Consumer: where a provider should push a transfer's data."""
        ...

    def before_complete(self, tx: Tx, transfer: Transfer) -> None:
        """Consumer: raises ConnectorError unless the transfer may be reported COMPLETED (its seal verified)."""
        ...


class AgreementSigner(Protocol):
    """Proof of intent inside the negotiation steps: agreements signed, countersigned and checked."""

    def sign_agreement(
        self, tx: Tx, neg: Negotiation, agreement: Mapping[str, Any], body: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    def check_countersignature(self, tx: Tx, neg: Negotiation, msg: Any) -> Problem | None: ...

    def receive_agreement(self, tx: Tx, neg: Negotiation, agreement: Mapping[str, Any], msg: Any) -> dict[str, Any]: ...

    def check_agreement(self, tx: Tx, neg: Negotiation, agreement: Any) -> Problem | None: ...

    def countersign(self, tx: Tx, neg: Negotiation, agreement: Any, body: Mapping[str, Any]) -> dict[str, Any]: ...
