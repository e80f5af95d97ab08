"""The node's settings: named values kept across restarts."""

from __future__ import annotations

from connector.store.interface import Tx


def get_setting(tx: Tx, key: str) -> str | None:
    row = tx.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
    return None if row is None else str(row[0])


def put_setting(tx: Tx, key: str, value: str) -> None:
    tx.execute(
        "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )
