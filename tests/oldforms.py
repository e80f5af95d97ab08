"""How stores written by earlier versions held what the tests need to build again: rows in their old form, written
as those versions wrote them, for the reading and migration of such stores to be tested."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connector.evidence.chain import Record


def insert_record_kept_whole(execute: Callable[..., Any], record: Record) -> None:
    """An evidence record as stores before schema version 13 kept it: its data as JSON text and its `prev` in full
    (no packing), about process "p"."""
    execute(
        "INSERT INTO evidence_records(seq, at, kind, process_id, peer, subject_sha256, data, prev, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [record.seq, record.at, record.kind, "p", None, None, record.data_json.decode(), record.prev, record.hash],
    )
