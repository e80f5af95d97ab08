"""The conformance-test profile: the official DSP TCK's seed data and scripted behaviour.

The TCK drives a connector from outside and expects it to act on its own in ways that depend on the dataset
or agreement id of each scenario (offer here, terminate there). This module holds those ids and the moves,
as plain tables, and is only active when `[tck] enabled = true`. Everything not listed follows the production
defaults of the control plane.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import EllipsisType
from typing import Any

from connector.control.pending import PendingStep, StepName
from connector.dsp.vocabulary import NegotiationState, Role
from connector.records.definitions import Asset, OfferDefinition, PolicyDefinition
from connector.records.processes import Agreement, Negotiation, Transfer
from connector.store.interface import Tx
from connector.store.sql import definitions as definitions_sql
from connector.store.sql import processes as repo

USE_POLICY = {"permission": [{"action": "use"}]}

CATALOG_DATASETS = ["CAT0101", "CAT0102"]
NEGOTIATION_DATASETS = [f"ACN0{g}0{i}" for g, n in ((1, 4), (2, 7), (3, 4)) for i in range(1, n + 1)]
TRANSFER_AGREEMENTS = [f"ATP0{g}0{i}" for g, n in ((1, 5), (2, 5), (3, 6)) for i in range(1, n + 1)]


def offer_id(dataset: str) -> str:
    return f"CD123:{dataset}:456"


def seed(db: Tx, participant_id: str, consumer: str = "TCK_PARTICIPANT") -> None:
    """Datasets, offers and agreements of TCK.md section 3.4 (idempotent)."""
    now = datetime.now(UTC)
    definitions_sql.upsert_policy(db, PolicyDefinition("tck-use", USE_POLICY, "use, without constraints (TCK)"))
    for dataset in CATALOG_DATASETS + NEGOTIATION_DATASETS:
        definitions_sql.upsert_asset(
            db,
            Asset(
                dataset,
                title=f"TCK dataset {dataset}",
                formats=("HttpData-PULL",),
                source={"type": "inline", "data": f"dataset {dataset}\n"},
            ),
        )
        definitions_sql.insert_offer(db, OfferDefinition(offer_id(dataset), dataset, "tck-use"), replace=True)
    for agreement_id in TRANSFER_AGREEMENTS:
        if repo.get_agreement(db, agreement_id) is not None:
            continue
        negotiation_id = f"tck-negotiation-{agreement_id}"
        repo.save_negotiation(
            db,
            Negotiation(
                id=negotiation_id,
                role=Role.PROVIDER,
                state=NegotiationState.FINALIZED,
                peer_id=consumer,
                peer_address="",
                provider_pid=negotiation_id,
                consumer_pid=negotiation_id,
                dataset_id="ACN0101",
                created_at=now,
                updated_at=now,
            ),
        )
        repo.save_agreement(
            db,
            Agreement(
                id=agreement_id,
                negotiation_id=negotiation_id,
                provider_id=participant_id,
                consumer_id=consumer,
                dataset_id="ACN0101",
                concluded_at=now,
                finalized=True,
                policy={
                    "@id": agreement_id,
                    "@type": "Agreement",
                    "target": "ACN0101",
                    "assigner": participant_id,
                    "assignee": consumer,
                    "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    **USE_POLICY,
                },
            ),
        )


def _ids(prefix: str, numbers: str) -> list[str]:
    return [f"{prefix}{n}" for n in numbers.split()]


def _table(prefix: str, **moves: str) -> dict[str, PendingStep | None]:
    """Scenario id -> the step to take there (`nothing`: none), from each step's list of scenario numbers."""
    table: dict[str, PendingStep | None] = {}
    for move, numbers in moves.items():
        for key in _ids(prefix, numbers):
            table[key] = None if move == "nothing" else PendingStep(StepName(move))
    return table


# Provider negotiations, by dataset (TCK.md 3.5).
P_AFTER_REQUEST = _table(
    "ACN",
    offer="0101 0102 0103 0204 0205 0206 0302 0303 0304",
    agree="0104 0203 0207 0301",
    terminate="0201",
    nothing="0202",
)
P_AFTER_COUNTER = _table("ACN", terminate="0102", nothing="0304")
P_AFTER_ACCEPTED = _table("ACN", agree="0103", terminate="0206", nothing="0303")
P_AFTER_VERIFICATION = _table("ACN", finalize="0103 0104 0301", terminate="0207")
P_AFTER_OFFER_DELIVERED = _table("ACN", terminate="0205")
# Consumer negotiations, by dataset.
C_AFTER_OFFER = _table(
    "ACNC", accept="0101 0205 0304 0305 0306", counter="0102", terminate="0103", nothing="0204 0302 0303"
)
C_AFTER_AGREEMENT = _table("ACNC", verify="0101 0104 0206", terminate="0203", nothing="0306")
C_AFTER_REQUEST_DELIVERED = _table("ACNC", terminate="0202")
# Provider transfers, by agreement.
TP_AFTER_REQUEST = _table(
    "ATP",
    start="0101 0102 0103 0104 0201 0202 0203 0204 0303 0304 0305 0306",
    terminate="0105",
    nothing="0205 0301 0302",
)
TP_AFTER_START_DELIVERED = [
    _table("ATP", terminate="0101", complete="0102", suspend="0103 0104"),
    _table("ATP", complete="0104"),
]
TP_AFTER_SUSPENSION_DELIVERED = _table("ATP", terminate="0103", start="0104")
# Consumer transfers, by agreement.
TC_AFTER_REQUEST_DELIVERED = _table("ATPC", terminate="0205")
TC_AFTER_START = _table("ATPC", terminate="0201", complete="0202", suspend="0203")
TC_AFTER_SUSPENSION_DELIVERED = _table("ATPC", terminate="0203")


class TckScript:
    """The TCK's scripted moves; `...` (Ellipsis) means: no script for this case, use the default."""

    def on_received(self, process: Any, message: str) -> PendingStep | None | EllipsisType:
        key = _key(process)
        if key is None:
            return ...
        table: dict[str, PendingStep | None] | None = None
        if isinstance(process, Negotiation):
            if process.role == Role.PROVIDER:
                table = {
                    "ContractRequestMessage:initial": P_AFTER_REQUEST,
                    "ContractRequestMessage": P_AFTER_COUNTER,
                    "ContractNegotiationEventMessage:ACCEPTED": P_AFTER_ACCEPTED,
                    "ContractAgreementVerificationMessage": P_AFTER_VERIFICATION,
                }.get(message)
            else:
                table = {
                    "ContractOfferMessage": C_AFTER_OFFER,
                    "ContractOfferMessage:initial": C_AFTER_OFFER,
                    "ContractAgreementMessage": C_AFTER_AGREEMENT,
                }.get(message)
        else:
            if process.role == Role.PROVIDER:
                table = {"TransferRequestMessage": TP_AFTER_REQUEST}.get(message)
            else:
                table = {"TransferStartMessage": TC_AFTER_START}.get(message)
        if table is None or key not in table:
            return ...
        return table[key]

    def after_delivered(self, process: Any, message_type: str, delivered_before: int) -> PendingStep | None:
        key = _key(process)
        if key is None:
            return None
        if isinstance(process, Negotiation):
            if process.role == Role.PROVIDER and message_type == "ContractOfferMessage":
                return P_AFTER_OFFER_DELIVERED.get(key)
            if process.role == Role.CONSUMER and message_type == "ContractRequestMessage" and delivered_before == 0:
                return C_AFTER_REQUEST_DELIVERED.get(key)
            return None
        if process.role == Role.PROVIDER:
            if message_type == "TransferStartMessage" and delivered_before < len(TP_AFTER_START_DELIVERED):
                return TP_AFTER_START_DELIVERED[delivered_before].get(key)
            if message_type == "TransferSuspensionMessage":
                return TP_AFTER_SUSPENSION_DELIVERED.get(key)
            return None
        if message_type == "TransferRequestMessage":
            return TC_AFTER_REQUEST_DELIVERED.get(key)
        if message_type == "TransferSuspensionMessage":
            return TC_AFTER_SUSPENSION_DELIVERED.get(key)
        return None


def _key(process: Any) -> str | None:
    if isinstance(process, Negotiation):
        return process.dataset_id
    if isinstance(process, Transfer):
        return process.agreement_id
    return None
