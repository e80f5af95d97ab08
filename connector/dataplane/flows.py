"""What the data plane keeps per transfer (its flow) and per version of a repeatable source (its digest).

Functions here run on the store's thread inside a transaction, like the control plane's repository; the tables
are created by migration 4. A flow row exists on both sides: the provider records which pull token is current,
which certificate it is bound to and the seal it issued; the consumer records the data address it holds, the push
destination token it issued, where pushed data went, and the seal it verified and keeps as evidence.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from connector.records.columns import iso
from connector.records.flows import Flow, KnownDigest

FLOW_TABLE = "data_flows"
DIGEST_TABLE = "data_digests"


def get_flow(db: Database, transfer_id: str) -> Flow | None:
    for row in db.query(f"SELECT * FROM {FLOW_TABLE} WHERE transfer_id = ?", [transfer_id]):
        return Flow.from_row(row)
    return None


def save_flow(db: Database, flow: Flow) -> None:
    db[FLOW_TABLE].upsert(flow.to_row(), pk="transfer_id")


def add_bytes_sent(db: Database, transfer_id: str, count: int) -> None:
    db.execute(f"UPDATE {FLOW_TABLE} SET bytes_sent = bytes_sent + ? WHERE transfer_id = ?", [count, transfer_id])


def get_digest(db: Database, source_key: str, etag: str) -> KnownDigest | None:
    for row in db.query(
        f"SELECT sha256, size, media_type FROM {DIGEST_TABLE} WHERE source_key = ? AND etag = ?", [source_key, etag]
    ):
        return KnownDigest(row["sha256"], row["size"], row["media_type"])
    return None


def put_digest(db: Database, source_key: str, etag: str, digest: KnownDigest, at: datetime) -> None:
    # Older versions of the same source are useless once a newer one is known.
    db.execute(f"DELETE FROM {DIGEST_TABLE} WHERE source_key = ?", [source_key])
    db.execute(
        f"INSERT INTO {DIGEST_TABLE}(source_key, etag, sha256, size, media_type, computed_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [source_key, etag, digest.sha256, digest.size, digest.media_type, iso(at)],
    )
