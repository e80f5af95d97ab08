"""Every SQL statement of the control plane, as small functions run on the store's thread.

Each function takes the open database first and is called inside a transaction by `Store.run` (write) or
`Store.read`; a PostgreSQL backend reimplements this module and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from connector.dsp.vocabulary import NegotiationState, TransferState
from connector.errors import ConnectorError
from connector.records.columns import iso
from connector.records.definitions import Asset, OfferDefinition, PolicyDefinition
from connector.records.processes import Agreement, FollowUp, HistoryEntry, Negotiation, OutboxEntry, Transfer

_UPSERT_SQL: dict[tuple[str, tuple[str, ...]], str] = {}


def _upsert(db: Database, table: str, row: Mapping[str, Any]) -> None:
    """INSERT or UPDATE by primary key `id`, as one prepared statement (the hot path of every step)."""
    columns = tuple(row)
    sql = _UPSERT_SQL.get((table, columns))
    if sql is None:
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "id")
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT(id) DO UPDATE SET {updates}"
        _UPSERT_SQL[(table, columns)] = sql
    db.conn.execute(sql, [row[c] for c in columns])


def _one(db: Database, sql: str, params: Sequence[Any]) -> Any:
    return db.conn.execute(sql, list(params)).fetchone()


def _page(
    db: Database,
    table: str,
    limit: int,
    offset: int,
    where: str = "",
    params: Sequence[Any] = (),
    order: str = "created_at, id",
) -> tuple[list[dict[str, Any]], int]:
    clause = f"WHERE {where}" if where else ""
    total = db.execute(f"SELECT count(*) FROM {table} {clause}", list(params)).fetchone()[0]
    rows = list(
        db.conn.execute(f"SELECT * FROM {table} {clause} ORDER BY {order} LIMIT ? OFFSET ?", [*params, limit, offset])
    )
    return rows, total


# --- assets, policies, offers -----------------------------------------------------------------------------------


def insert_asset(db: Database, asset: Asset) -> None:
    if _one(db, "SELECT id FROM assets WHERE id = ?", [asset.id]):
        raise ConnectorError("asset.conflict", f"an asset with id '{asset.id}' already exists", "id")
    _upsert(db, "assets", asset.to_row())


def upsert_asset(db: Database, asset: Asset) -> None:
    existing = get_asset(db, asset.id)
    row = asset.to_row()
    if existing is not None:
        row["created_at"] = iso(existing.created_at)
    _upsert(db, "assets", row)


def get_asset(db: Database, asset_id: str) -> Asset | None:
    row = _one(db, "SELECT * FROM assets WHERE id = ?", [asset_id])
    return Asset.from_row(row) if row else None


def list_assets(db: Database, limit: int, offset: int) -> tuple[list[Asset], int]:
    rows, total = _page(db, "assets", limit, offset)
    return [Asset.from_row(r) for r in rows], total


def delete_asset(db: Database, asset_id: str) -> None:
    if get_asset(db, asset_id) is None:
        raise ConnectorError("asset.not_found", f"no asset '{asset_id}'", "id")
    if _one(db, "SELECT id FROM offers WHERE asset_id = ?", [asset_id]):
        raise ConnectorError("asset.conflict", f"asset '{asset_id}' is still offered; delete its offers first")
    db.execute("DELETE FROM assets WHERE id = ?", [asset_id])


def insert_policy(db: Database, policy: PolicyDefinition) -> None:
    if _one(db, "SELECT id FROM policies WHERE id = ?", [policy.id]):
        raise ConnectorError("policy.conflict", f"a policy with id '{policy.id}' already exists", "id")
    _upsert(db, "policies", policy.to_row())


def upsert_policy(db: Database, policy: PolicyDefinition) -> None:
    existing = get_policy(db, policy.id)
    row = policy.to_row()
    if existing is not None:
        row["created_at"] = iso(existing.created_at)
    _upsert(db, "policies", row)


def get_policy(db: Database, policy_id: str) -> PolicyDefinition | None:
    row = _one(db, "SELECT * FROM policies WHERE id = ?", [policy_id])
    return PolicyDefinition.from_row(row) if row else None


def list_policies(db: Database, limit: int, offset: int) -> tuple[list[PolicyDefinition], int]:
    rows, total = _page(db, "policies", limit, offset)
    return [PolicyDefinition.from_row(r) for r in rows], total


def delete_policy(db: Database, policy_id: str) -> None:
    if get_policy(db, policy_id) is None:
        raise ConnectorError("policy.not_found", f"no policy '{policy_id}'", "id")
    if _one(db, "SELECT id FROM offers WHERE contract_policy_id = ? OR access_policy_id = ?", [policy_id, policy_id]):
        raise ConnectorError("policy.conflict", f"policy '{policy_id}' is used by an offer; delete the offer first")
    db.execute("DELETE FROM policies WHERE id = ?", [policy_id])


def insert_offer(db: Database, offer: OfferDefinition, replace: bool = False) -> None:
    if get_asset(db, offer.asset_id) is None:
        raise ConnectorError("offer.unknown_asset", f"no asset '{offer.asset_id}'", "assetId")
    for key, pid in (("contractPolicyId", offer.contract_policy_id), ("accessPolicyId", offer.access_policy_id)):
        if pid is not None and get_policy(db, pid) is None:
            raise ConnectorError("offer.unknown_policy", f"no policy '{pid}'", key)
    if _one(db, "SELECT id FROM offers WHERE id = ?", [offer.id]):
        if not replace:
            raise ConnectorError("offer.conflict", f"an offer with id '{offer.id}' already exists", "id")
        db.execute("DELETE FROM offers WHERE id = ?", [offer.id])
    _upsert(db, "offers", offer.to_row())


def get_offer(db: Database, offer_id: str) -> OfferDefinition | None:
    row = _one(db, "SELECT * FROM offers WHERE id = ?", [offer_id])
    return OfferDefinition.from_row(row) if row else None


def list_offers(db: Database, limit: int, offset: int) -> tuple[list[OfferDefinition], int]:
    rows, total = _page(db, "offers", limit, offset)
    return [OfferDefinition.from_row(r) for r in rows], total


def offers_for_asset(db: Database, asset_id: str) -> list[OfferDefinition]:
    return [
        OfferDefinition.from_row(r)
        for r in db.conn.execute("SELECT * FROM offers WHERE asset_id = ? ORDER BY id", [asset_id])
    ]


def delete_offer(db: Database, offer_id: str) -> None:
    if get_offer(db, offer_id) is None:
        raise ConnectorError("offer.not_found", f"no offer '{offer_id}'", "id")
    db.execute("DELETE FROM offers WHERE id = ?", [offer_id])


def catalogue_rows(db: Database) -> list[tuple[Asset, OfferDefinition, PolicyDefinition, PolicyDefinition | None]]:
    """Every offer with its asset and policies, in catalogue order (asset id, then offer id)."""
    out = []
    policies = {p.id: p for p in (PolicyDefinition.from_row(r) for r in db.conn.execute("SELECT * FROM policies"))}
    assets = {a.id: a for a in (Asset.from_row(r) for r in db.conn.execute("SELECT * FROM assets"))}
    for row in db.conn.execute("SELECT * FROM offers ORDER BY asset_id, id"):
        offer = OfferDefinition.from_row(row)
        access = policies.get(offer.access_policy_id) if offer.access_policy_id else None
        out.append((assets[offer.asset_id], offer, policies[offer.contract_policy_id], access))
    return out


# --- negotiations and agreements --------------------------------------------------------------------------------


def get_negotiation(db: Database, negotiation_id: str) -> Negotiation | None:
    row = _one(db, "SELECT * FROM negotiations WHERE id = ?", [negotiation_id])
    return Negotiation.from_row(row) if row else None


def find_provider_negotiation(db: Database, peer_id: str, consumer_pid: str) -> Negotiation | None:
    row = _one(
        db,
        "SELECT * FROM negotiations WHERE role = 'provider' AND peer_id = ? AND consumer_pid = ?",
        [peer_id, consumer_pid],
    )
    return Negotiation.from_row(row) if row else None


def find_consumer_negotiation(db: Database, peer_id: str, provider_pid: str) -> Negotiation | None:
    row = _one(
        db,
        "SELECT * FROM negotiations WHERE role = 'consumer' AND peer_id = ? AND provider_pid = ?",
        [peer_id, provider_pid],
    )
    return Negotiation.from_row(row) if row else None


def save_negotiation(db: Database, negotiation: Negotiation) -> None:
    _upsert(db, "negotiations", negotiation.to_row())


def set_pending(db: Database, kind: str, process_id: str, step: str | None) -> None:
    """Only the `pending` column of a stored process (the rest of its row is already what the caller holds)."""
    db.conn.execute(f"UPDATE {_TABLES[kind]} SET pending = ? WHERE id = ?", [step, process_id])


def list_negotiations(
    db: Database, limit: int, offset: int, state: str | None = None, role: str | None = None
) -> tuple[list[Negotiation], int]:
    where, params = _filters(state=state, role=role)
    rows, total = _page(db, "negotiations", limit, offset, where, params, order="created_at DESC, id")
    return [Negotiation.from_row(r) for r in rows], total


def open_negotiations(db: Database) -> list[Negotiation]:
    return [
        Negotiation.from_row(r)
        for r in db.conn.execute("SELECT * FROM negotiations WHERE state NOT IN ('FINALIZED', 'TERMINATED')")
    ]


def save_agreement(db: Database, agreement: Agreement) -> None:
    _upsert(db, "agreements", agreement.to_row())


def get_agreement(db: Database, agreement_id: str) -> Agreement | None:
    row = _one(db, "SELECT * FROM agreements WHERE id = ?", [agreement_id])
    return Agreement.from_row(row) if row else None


def list_agreements(db: Database, limit: int, offset: int) -> tuple[list[Agreement], int]:
    rows, total = _page(db, "agreements", limit, offset, order="created_at DESC, id")
    return [Agreement.from_row(r) for r in rows], total


def count_transfers_started(db: Database, agreement_id: str, role: str = "provider") -> int:
    """Transfers under an agreement that got as far as STARTED (at any time): the agreement's uses."""
    return db.execute(
        "SELECT count(DISTINCT t.id) FROM transfers t JOIN process_history h ON h.process_id = t.id "
        "WHERE t.agreement_id = ? AND t.role = ? AND h.to_state = 'STARTED'",
        [agreement_id, role],
    ).fetchone()[0]


# --- transfers --------------------------------------------------------------------------------------------------


def get_transfer(db: Database, transfer_id: str) -> Transfer | None:
    row = _one(db, "SELECT * FROM transfers WHERE id = ?", [transfer_id])
    return Transfer.from_row(row) if row else None


def find_provider_transfer(db: Database, peer_id: str, consumer_pid: str) -> Transfer | None:
    row = _one(
        db,
        "SELECT * FROM transfers WHERE role = 'provider' AND peer_id = ? AND consumer_pid = ?",
        [peer_id, consumer_pid],
    )
    return Transfer.from_row(row) if row else None


def save_transfer(db: Database, transfer: Transfer) -> None:
    _upsert(db, "transfers", transfer.to_row())


def list_transfers(
    db: Database,
    limit: int,
    offset: int,
    state: str | None = None,
    role: str | None = None,
    agreement_id: str | None = None,
) -> tuple[list[Transfer], int]:
    where, params = _filters(state=state, role=role, agreement_id=agreement_id)
    rows, total = _page(db, "transfers", limit, offset, where, params, order="created_at DESC, id")
    return [Transfer.from_row(r) for r in rows], total


def open_transfers(db: Database) -> list[Transfer]:
    return [
        Transfer.from_row(r)
        for r in db.conn.execute("SELECT * FROM transfers WHERE state NOT IN ('COMPLETED', 'TERMINATED')")
    ]


def _filters(**kwargs: str | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for column, value in kwargs.items():
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(clauses), params


# --- history ----------------------------------------------------------------------------------------------------

# The next seq is taken in the insert itself: one statement per entry instead of a lookup and an insert.
_HISTORY_INSERT = (
    "INSERT INTO process_history(process_id, seq, kind, at, from_state, to_state, cause, reason, detail) "
    "VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM process_history WHERE process_id = ?), ?, ?, ?, ?, ?, ?, ?)"
)


def append_history(
    db: Database,
    kind: str,
    process_id: str,
    at: datetime,
    from_state: str | None,
    to_state: str,
    cause: str,
    reason: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    db.conn.execute(
        _HISTORY_INSERT,
        [
            process_id,
            process_id,
            kind,
            iso(at),
            from_state,
            to_state,
            cause,
            reason,
            None if detail is None else json.dumps(detail, sort_keys=True, default=str),
        ],
    )


def history(db: Database, process_id: str) -> list[HistoryEntry]:
    return [
        HistoryEntry.from_row(r)
        for r in db.conn.execute("SELECT * FROM process_history WHERE process_id = ? ORDER BY seq", [process_id])
    ]


# --- outbox -----------------------------------------------------------------------------------------------------


def enqueue(
    db: Database,
    process_kind: str,
    process_id: str,
    peer_id: str,
    url: str,
    message_type: str,
    body: Mapping[str, Any],
    created: datetime,
    deadline: datetime,
    not_before: datetime | None = None,
) -> int:
    cursor = db.execute(
        "INSERT INTO outbox(process_kind, process_id, peer_id, url, message_type, body, not_before, deadline_at, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            process_kind,
            process_id,
            peer_id,
            url,
            message_type,
            json.dumps(body),
            iso(not_before),
            iso(deadline),
            iso(created),
        ],
    )
    return int(cursor.lastrowid)


def next_outbox(db: Database, process_id: str) -> OutboxEntry | None:
    row = _one(db, "SELECT * FROM outbox WHERE process_id = ? ORDER BY id LIMIT 1", [process_id])
    return OutboxEntry.from_row(row) if row else None


_TABLES = {"negotiation": "negotiations", "transfer": "transfers"}
_TERMINAL = {
    kind: frozenset(s.value for s in states if s.is_terminal)
    for kind, states in (("negotiation", NegotiationState), ("transfer", TransferState))
}


def process_status(db: Database, kind: str, process_id: str) -> tuple[str, bool] | None:
    """(state, whether a step of ours is pending and the process not over), or None if there is no such process."""
    row = _one(db, f"SELECT state, pending FROM {_TABLES[kind]} WHERE id = ?", [process_id])
    if row is None:
        return None
    state = row[0]
    return state, row[1] is not None and state not in _TERMINAL[kind]


def has_open_step(db: Database, kind: str, process_id: str) -> bool:
    """Whether the process exists, is not over, and a step of ours is pending."""
    status = process_status(db, kind, process_id)
    return status is not None and status[1]


def follow_up(db: Database, kind: str, process_id: str) -> FollowUp:
    status = process_status(db, kind, process_id)
    if status is None:
        return FollowUp(False, next_outbox(db, process_id))
    state, pending = status
    return FollowUp(pending, None if pending else next_outbox(db, process_id), state)


def outbox_processes(db: Database) -> list[str]:
    return [r[0] for r in db.execute("SELECT DISTINCT process_id FROM outbox")]


def outbox_failed_attempt(db: Database, entry_id: int, error: str) -> None:
    db.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", [error[:500], entry_id])


def outbox_done(db: Database, entry_id: int) -> None:
    db.execute("DELETE FROM outbox WHERE id = ?", [entry_id])


def outbox_drop_process(db: Database, process_id: str) -> int:
    return db.execute("DELETE FROM outbox WHERE process_id = ?", [process_id]).rowcount


def outbox_pending(db: Database, process_id: str) -> list[OutboxEntry]:
    return [
        OutboxEntry.from_row(r)
        for r in db.conn.execute("SELECT * FROM outbox WHERE process_id = ? ORDER BY id", [process_id])
    ]


# --- idempotency of received messages ---------------------------------------------------------------------------


def remembered_response(db: Database, peer_id: str, message_id: str) -> tuple[int, Any] | None:
    row = _one(
        db, "SELECT status, response FROM received_messages WHERE peer_id = ? AND message_id = ?", [peer_id, message_id]
    )
    return (row["status"], json.loads(row["response"])) if row else None


def remember_response(
    db: Database, peer_id: str, message_id: str, process_id: str | None, status: int, response: Any, at: datetime
) -> None:
    db.execute(
        "INSERT OR REPLACE INTO received_messages(peer_id, message_id, process_id, status, response, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [peer_id, message_id, process_id, status, json.dumps(response), iso(at)],
    )


def forget_responses(db: Database, before: datetime) -> int:
    """Drop the remembered answers to messages received before `before` (no peer retries for that long)."""
    return db.execute("DELETE FROM received_messages WHERE at < ?", [iso(before)]).rowcount


def iter_rows(db: Database, sql: str, params: Iterable[Any] = ()) -> Iterable[dict[str, Any]]:
    return db.conn.execute(sql, list(params))
