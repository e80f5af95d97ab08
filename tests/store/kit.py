"""What the store's contract tests share: the backends they run against, a clock, and records to store.

A backend is an async context manager that yields a freshly opened, fully migrated store, given the test's
request (for the fixtures it needs: a temporary folder, a database); the tests run once per entry of BACKENDS, so
another backend is one more entry there (and nothing else).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.dsp.vocabulary import NegotiationState, Role, TransferState
from connector.records.definitions import Asset, OfferDefinition, PolicyDefinition
from connector.records.processes import Agreement, Negotiation, Transfer
from connector.store.interface import Store
from connector.store.postgres import PostgresStore
from connector.store.sqlite import SqliteStore

T0 = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass(frozen=True)
class Backend:
    name: str  # the dialect its transactions report
    store: Store


@contextlib.asynccontextmanager
async def _sqlite(request: Any) -> AsyncIterator[Backend]:
    store = SqliteStore(request.getfixturevalue("tmp_path") / "store.sqlite")
    await store.open()
    try:
        yield Backend("sqlite", store)
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _postgresql(request: Any) -> AsyncIterator[Backend]:
    store = PostgresStore(request.getfixturevalue("postgres_migrated_url"), pool_size=3)
    await store.open()
    try:
        yield Backend("postgresql", store)
    finally:
        await store.close()


BACKENDS: dict[str, Callable[[Any], contextlib.AbstractAsyncContextManager[Backend]]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}


def asset(asset_id: str, created: float = 0, **fields: Any) -> Asset:
    return Asset(asset_id, created_at=at(created), updated_at=at(created), **fields)


def policy(policy_id: str, created: float = 0) -> PolicyDefinition:
    rules = {
        "permission": [
            {"action": "use", "constraint": [{"leftOperand": "count", "operator": "lteq", "rightOperand": 5}]}
        ]
    }
    return PolicyDefinition(policy_id, rules, f"policy {policy_id}", created_at=at(created), updated_at=at(created))


def offer(
    offer_id: str, asset_id: str, contract: str, access: str | None = None, created: float = 0
) -> OfferDefinition:
    return OfferDefinition(offer_id, asset_id, contract, access, created_at=at(created))


def negotiation(pid: str, created: float = 0, **fields: Any) -> Negotiation:
    values: dict[str, Any] = {
        "role": Role.PROVIDER,
        "state": NegotiationState.REQUESTED,
        "peer_id": "did:web:peer",
        "peer_address": "https://peer.example/dsp",
        "provider_pid": pid,
        "consumer_pid": f"consumer-{pid}",
        "created_at": at(created),
        "updated_at": at(created),
    }
    values.update(fields)
    return Negotiation(pid, **values)


def agreement(agreement_id: str, negotiation_id: str, created: float = 0) -> Agreement:
    return Agreement(
        agreement_id,
        negotiation_id,
        "did:web:provider",
        "did:web:peer",
        "dataset-1",
        {"@id": agreement_id, "@type": "Agreement", "permission": [{"action": "use"}]},
        concluded_at=at(created),
        created_at=at(created),
    )


def transfer(pid: str, agreement_id: str, created: float = 0, **fields: Any) -> Transfer:
    values: dict[str, Any] = {
        "role": Role.PROVIDER,
        "state": TransferState.REQUESTED,
        "peer_id": "did:web:peer",
        "peer_address": "https://peer.example/callback",
        "format": "HttpData-PULL",
        "provider_pid": pid,
        "consumer_pid": f"consumer-{pid}",
        "created_at": at(created),
        "updated_at": at(created),
    }
    values.update(fields)
    return Transfer(pid, agreement_id=agreement_id, **values)
