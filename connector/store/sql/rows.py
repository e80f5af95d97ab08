"""Statement helpers shared by the modules of this package: an upsert by key, one row, a page with its total, and
long lists of values taken in batches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from connector.store.interface import Tx

BATCH = 500  # values in one `IN (...)` list, and rows in one page of a long read

_UPSERT_SQL: dict[tuple[str, str, tuple[str, ...]], str] = {}


def upsert(tx: Tx, table: str, row: Mapping[str, Any], key: str = "id") -> None:
    """INSERT `row`, or UPDATE every other column of the row with the same `key`: one statement, made once per
    table and set of columns (the hot path of every step)."""
    columns = tuple(row)
    sql = _UPSERT_SQL.get((table, key, columns))
    if sql is None:
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET {updates}"
        _UPSERT_SQL[(table, key, columns)] = sql
    tx.execute(sql, [row[c] for c in columns])


def one(tx: Tx, sql: str, params: Sequence[Any]) -> Any:
    return tx.execute(sql, list(params)).fetchone()


def page(
    tx: Tx,
    table: str,
    limit: int,
    offset: int,
    where: str = "",
    params: Sequence[Any] = (),
    order: str = "created_at, id",
) -> tuple[list[Any], int]:
    """One page of a table's rows in `order`, and how many rows there are in all."""
    clause = f"WHERE {where}" if where else ""
    total = tx.execute(f"SELECT count(*) FROM {table} {clause}", list(params)).fetchone()[0]
    rows = list(
        tx.execute(f"SELECT * FROM {table} {clause} ORDER BY {order} LIMIT ? OFFSET ?", [*params, limit, offset])
    )
    return rows, total


def filters(**columns: str | None) -> tuple[str, list[Any]]:
    """A WHERE clause matching every column given a value (those given None are not filtered on)."""
    clauses, params = [], []
    for column, value in columns.items():
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(clauses), params


def batches(values: Sequence[str]) -> Iterator[tuple[list[str], str]]:
    """`values` in lists of at most BATCH, each with its placeholders for an `IN (...)` clause."""
    for start in range(0, len(values), BATCH):
        chunk = list(values[start : start + BATCH])
        yield chunk, ", ".join("?" for _ in chunk)
