"""The statements of the data plane's tables: a flow per transfer, and the digest of each version of a
repeatable source."""

from __future__ import annotations

from datetime import datetime

from connector.records.columns import iso
from connector.records.flows import Flow, KnownDigest
from connector.store.interface import Tx
from connector.store.sql.rows import upsert

FLOW_TABLE = "data_flows"
DIGEST_TABLE = "data_digests"


def get_flow(tx: Tx, transfer_id: str) -> Flow | None:
    row = tx.execute(f"SELECT * FROM {FLOW_TABLE} WHERE transfer_id = ?", [transfer_id]).fetchone()
    return None if row is None else Flow.from_row(row)


def save_flow(tx: Tx, flow: Flow) -> None:
    upsert(tx, FLOW_TABLE, flow.to_row(), key="transfer_id")


def add_bytes_sent(tx: Tx, transfer_id: str, count: int) -> None:
    tx.execute(f"UPDATE {FLOW_TABLE} SET bytes_sent = bytes_sent + ? WHERE transfer_id = ?", [count, transfer_id])


def get_digest(tx: Tx, source_key: str, etag: str) -> KnownDigest | None:
    row = tx.execute(
        f"SELECT sha256, size, media_type FROM {DIGEST_TABLE} WHERE source_key = ? AND etag = ?", [source_key, etag]
    ).fetchone()
    return None if row is None else KnownDigest(row["sha256"], row["size"], row["media_type"])


def put_digest(tx: Tx, source_key: str, etag: str, digest: KnownDigest, at: datetime) -> None:
    # Older versions of the same source are useless once a newer one is known.
    tx.execute(f"DELETE FROM {DIGEST_TABLE} WHERE source_key = ?", [source_key])
    tx.execute(
        f"INSERT INTO {DIGEST_TABLE}(source_key, etag, sha256, size, media_type, computed_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [source_key, etag, digest.sha256, digest.size, digest.media_type, iso(at)],
    )
