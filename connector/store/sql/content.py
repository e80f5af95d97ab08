"""The content-addressed tables: JSON texts stored compactly (connector.records.content), each part once by its
hash, and read back exactly.

`evidence_blobs` holds the evidence log's subjects and their parts (append-only like the rest of the evidence);
`content_blobs` the parts of large values of the node's own tables (a peer's verified claims, a decision's trace),
whose columns then hold a compact row instead of the whole text. Rows are kept packed (connector.records.packing).
Parts are immutable, so the node keeps the `content_blobs` parts it read last in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from connector.recent import Recent
from connector.records import content, packing
from connector.store.interface import Tx
from connector.store.sql.rows import batches

EVIDENCE = "evidence_blobs"
CONTENT = "content_blobs"
MIB = 1024 * 1024


def _text_size(key: Any, value: str) -> int:
    return len(value)


def _compacted_size(key: tuple[Any, str, int], value: tuple[str, Mapping[str, str]]) -> int:
    return len(key[1]) + len(value[0]) + sum(map(len, value[1].values()))


def _expanded_size(key: str, value: str) -> int:
    return len(key) + len(value)


def _packing_size(key: str, value: tuple[str, bytes]) -> int:
    return len(value[0]) + len(value[1])


# Parts of `content_blobs` read lately (a part's row never changes: its hash is its key).
_parts: Recent[str, str] = Recent(2048, 4 * MIB, _text_size)
# Texts compacted lately, with their row and parts: a process's claims are written again at each of its steps,
# a peer's presentation with each of its requests, and compacting is a pure function of the text.
_compacted: Recent[tuple[Callable[[Any], str], str, int], tuple[str, Mapping[str, str]]] = Recent(
    256, 4 * MIB, _compacted_size
)
# Compact rows read lately, with the text they stand for: a process's claims are read again at each of its steps (a
# row names its parts by hash, so the text it stands for never changes).
_expanded: Recent[str, str] = Recent(256, 2 * MIB, _expanded_size)
# Parts compacted lately (content.Known): a peer's credentials, an offer's rules, a decision's explanation are parts
# of a new value at every step, and are not taken apart again each time.
_known_parts: Recent[Any, tuple[str, Mapping[str, str]]] = Recent(
    1024, 4 * MIB, lambda key, value: len(value[0]) + sum(map(len, value[1].values()))
)
# Rows packed lately, by hash, with the row they were packed from: a process's claims, a signer's certificates and an
# offer's rules are put again at each step (and kept once).
_packings: Recent[str, tuple[str, bytes]] = Recent(2048, 4 * MIB, _packing_size)


def compacted(
    value: Any, text: str, encode: Callable[[Any], str], threshold: int = content.THRESHOLD
) -> tuple[str, Mapping[str, str]]:
    """`content.compact(value, text, encode, threshold)`, remembered for the texts compacted last (do not change the
    parts)."""
    key = (encode, text, threshold)
    known = _compacted.get(key)
    if known is None:
        known = _compacted[key] = content.compact(value, text, encode, threshold, _known_parts)
    return known


def _packed(sha: str, row: str) -> bytes:
    """`packing.pack(row)`, remembered by hash for the rows packed last (the same parts are put again and again)."""
    known = _packings.get(sha)
    if known is not None and known[0] == row:
        return known[1]
    packed = packing.pack(row)
    _packings[sha] = (row, packed)
    return packed


def put_rows(tx: Tx, table: str, rows: Mapping[str, str]) -> None:
    """Store rows by hash, each packed (connector.records.packing); a hash already stored keeps its row."""
    if rows:
        tx.executemany(
            f"INSERT INTO {table}(sha256, body, packed) VALUES (?, '', ?) ON CONFLICT (sha256) DO NOTHING",
            [(sha, _packed(sha, row)) for sha, row in rows.items()],
        )


def stored_row(body: Any, packed: Any) -> Any:
    """A row as `put_rows` was given it, from its `body` and `packed` columns: a packed row has an empty body (one
    written before packing, its whole text). A packing that does not unpack (a damaged row) reads as a text no hash
    matches, nor any row's format: a NUL and the hex of its bytes."""
    if packed is None or body != "":
        return body
    try:
        return packing.unpack(packed)
    except ValueError:
        return "\x00" + bytes(packed).hex()


def rows_of(tx: Tx, table: str, hashes: list[str]) -> dict[str, str]:
    """The stored rows of these hashes (those absent are left out), unpacked (`evidence_subjects`, the subjects of
    stores written before parts, has no packed rows)."""
    found: dict[str, str] = {}
    packed = "packed" if table in (EVIDENCE, CONTENT) else "NULL"
    for chunk, marks in batches(hashes):
        for row in tx.execute(f"SELECT sha256, body, {packed} FROM {table} WHERE sha256 IN ({marks})", chunk):
            found[str(row[0])] = stored_row(row[1], row[2])
    return found


def fetcher(tx: Tx, table: str, cache: dict[str, str] | None = None) -> content.Fetch:
    """Reads a part's row by hash, each at most once per `cache` (one per read, by default)."""
    known = cache if cache is not None else {}
    sql = f"SELECT body, packed FROM {table} WHERE sha256 = ?"

    def fetch(sha: str) -> str | None:
        row = known.get(sha)
        if row is None:
            found = tx.execute(sql, [sha]).fetchone()
            if found is None:
                return None
            row = known[sha] = stored_row(found[0], found[1])
        return row

    return fetch


def expanded(tx: Tx, table: str, row: str, cache: dict[str, str] | None = None) -> str:
    """The text a stored row stands for (LookupError if a part it refers to is missing)."""
    return content.expand(row, fetcher(tx, table, cache)) if content.is_compact(row) else row


# --- large values of the node's own tables ------------------------------------------------------------------------


def _column_text(value: Any) -> str:
    """A JSON value as the node's columns write it (connector.records.columns.json_column)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def detail_text(value: Any) -> str:
    """A detail as its columns write it (a history entry's, a verification record's): keys sorted, spaced."""
    return json.dumps(value, sort_keys=True, default=str)


# Parts of values repeated whole from row to row (a policy's rules in each negotiation and agreement under one
# offer, the recognitions of a peer's credentials at each of its requests) are worth keeping once from this size.
REPEATED = 128


def compact_column(
    tx: Tx,
    value: Any,
    text: str | None,
    encode: Callable[[Any], str] = _column_text,
    threshold: int = content.THRESHOLD,
) -> str | None:
    """What a JSON column holds for `value` (written as `text` by `encode`): its compact row, the parts stored (its
    members of at least `threshold` characters)."""
    if text is None or len(text) < threshold:
        return text
    row, parts = compacted(value, text, encode, threshold)
    put_rows(tx, CONTENT, parts)
    return row


def column_text(tx: Tx, stored: str | None) -> str | None:
    """The JSON text of a column `compact_column` wrote (a plain text is returned as it is)."""
    if stored is None or not content.is_compact(stored):
        return stored
    text = _expanded.get(stored)
    if text is None:
        text = _expanded[stored] = content.expand(stored, _remembered(tx))
    return text


def _remembered(tx: Tx) -> content.Fetch:
    read = fetcher(tx, CONTENT)

    def fetch(sha: str) -> str | None:
        row = _parts.get(sha)
        if row is None:
            row = read(sha)
            if row is not None:
                _parts[sha] = row
        return row

    return fetch
