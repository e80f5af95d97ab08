"""The statements of the trust tables: the replay cache of presented tokens, kept copies of trust lists, the
node's own credentials, and the verification records."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from connector.records.trust import ISSUED_SOURCE, CredentialRequest, KeptList, OwnCredential, VerificationRecord
from connector.store.interface import Tx
from connector.store.sql.content import REPEATED, column_text, compact_column, detail_text

# Records beyond this many are pruned, oldest first (the log keeps every line anyway).
MAX_VERIFICATION_RECORDS = 100_000


def _epoch(moment: datetime) -> int:
    return math.ceil(moment.timestamp())


# --- replay cache ---------------------------------------------------------------------------------------------


def remember_jti(tx: Tx, issuer: str, jti: str, until: datetime, now: datetime) -> bool:
    """Insert (issuer, jti) unless an unexpired entry exists; True if inserted. One statement, so atomic."""
    cursor = tx.execute(
        "INSERT INTO trust_replay(issuer, jti, until_epoch) VALUES (?, ?, ?) "
        "ON CONFLICT (issuer, jti) DO UPDATE SET until_epoch = excluded.until_epoch "
        "WHERE trust_replay.until_epoch <= ?",
        [issuer, jti, _epoch(until), math.floor(now.timestamp())],
    )
    return cursor.rowcount == 1


def purge_replay(tx: Tx, now: datetime) -> int:
    return tx.execute("DELETE FROM trust_replay WHERE until_epoch <= ?", [math.floor(now.timestamp())]).rowcount


# --- kept trust lists -----------------------------------------------------------------------------------------

_KEPT_COLUMNS = (
    "anchor_sha256, federation_id, federation_name, sequence, valid_from, valid_until, sha256, jws, source, stored_at"
)


def kept_list(tx: Tx, anchor_sha256: str) -> KeptList | None:
    row = tx.execute(
        f"SELECT {_KEPT_COLUMNS} FROM trust_list_copies WHERE anchor_sha256 = ?", [anchor_sha256]
    ).fetchone()
    return KeptList.from_row(row) if row else None


def keep_list(tx: Tx, copy: KeptList) -> None:
    """Store a verified list as the copy for its anchor. Never lowers the sequence (checked here as well as by
    the caller, so that two refreshes racing cannot roll the kept copy back)."""
    row = copy.to_row()
    tx.execute(
        f"INSERT INTO trust_list_copies({_KEPT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (anchor_sha256) DO UPDATE SET federation_id = excluded.federation_id, "
        "federation_name = excluded.federation_name, sequence = excluded.sequence, valid_from = excluded.valid_from, "
        "valid_until = excluded.valid_until, sha256 = excluded.sha256, jws = excluded.jws, source = excluded.source, "
        "stored_at = excluded.stored_at WHERE excluded.sequence > trust_list_copies.sequence",
        [row[c] for c in _KEPT_COLUMNS.split(", ")],
    )


# --- own credentials --------------------------------------------------------------------------------------------

_OWN_COLUMNS = ("id", "types", "issuer", "valid_until", "sha256", "token", "source", "loaded_at")


_INSERT_OWN = (
    f"INSERT INTO own_credentials({', '.join(_OWN_COLUMNS)}) VALUES ({', '.join('?' for _ in _OWN_COLUMNS)}) "
    "ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _OWN_COLUMNS if c != "id")
)


def replace_own_credentials(tx: Tx, credentials: Iterable[OwnCredential]) -> int:
    """The configured files are the truth for what came from files: those stored become exactly what the files
    hold. Credentials issuers delivered (source ``issued:...``) stay."""
    tx.execute("DELETE FROM own_credentials WHERE substr(source, 1, ?) <> ?", [len(ISSUED_SOURCE), ISSUED_SOURCE])
    count = 0
    for credential in credentials:
        row = credential.to_row()
        tx.execute(_INSERT_OWN, [row[c] for c in _OWN_COLUMNS])
        count += 1
    return count


def store_issued_credentials(tx: Tx, credentials: Iterable[OwnCredential]) -> int:
    """Keep credentials an issuer delivered; each replaces the earlier ones of the same issuer and types (a
    credential issued again, e.g. before the old one expires)."""
    count = 0
    for credential in credentials:
        row = credential.to_row()
        tx.execute(
            "DELETE FROM own_credentials WHERE issuer = ? AND types = ? AND substr(source, 1, ?) = ? AND id <> ?",
            [row["issuer"], row["types"], len(ISSUED_SOURCE), ISSUED_SOURCE, row["id"]],
        )
        tx.execute(_INSERT_OWN, [row[c] for c in _OWN_COLUMNS])
        count += 1
    return count


def own_credentials(tx: Tx) -> list[OwnCredential]:
    rows = tx.execute(f"SELECT {', '.join(_OWN_COLUMNS)} FROM own_credentials ORDER BY id").fetchall()
    return [OwnCredential.from_row(r) for r in rows]


def own_credential_rows(tx: Tx) -> list[dict[str, Any]]:
    """The stored own credentials as rows, unparsed, in the order they were stored (for export, which reports a
    row it cannot read rather than fail)."""
    return list(tx.query("SELECT id, types, issuer, sha256, token FROM own_credentials"))


# --- credential requests -------------------------------------------------------------------------------------

_REQUEST_COLUMNS = (
    "holder_pid",
    "issuer",
    "issuer_url",
    "issuer_pid",
    "status_url",
    "types",
    "state",
    "reason",
    "credentials",
    "created_at",
    "updated_at",
)


def save_credential_request(tx: Tx, request: CredentialRequest) -> None:
    row = request.to_row()
    tx.execute(
        f"INSERT INTO credential_requests({', '.join(_REQUEST_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in _REQUEST_COLUMNS)}) ON CONFLICT (holder_pid) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in _REQUEST_COLUMNS if c not in ("holder_pid", "created_at")),
        [row[c] for c in _REQUEST_COLUMNS],
    )


def credential_request(tx: Tx, holder_pid: str) -> CredentialRequest | None:
    row = tx.execute(
        f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM credential_requests WHERE holder_pid = ?", [holder_pid]
    ).fetchone()
    return CredentialRequest.from_row(row) if row else None


def credential_requests(tx: Tx, limit: int, offset: int) -> tuple[list[CredentialRequest], int]:
    """Newest first."""
    total = tx.execute("SELECT COUNT(*) FROM credential_requests").fetchone()[0]
    rows = tx.execute(
        f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM credential_requests ORDER BY created_at DESC, holder_pid "
        "LIMIT ? OFFSET ?",
        [limit, offset],
    ).fetchall()
    return [CredentialRequest.from_row(r) for r in rows], int(total)


# --- verification records ----------------------------------------------------------------------------------------

_VERIFICATION_COLUMNS = ("at", "peer", "outcome", "code", "reason", "step", "method", "path", "request_id", "detail")
_RECORD_VERIFICATION = (
    f"INSERT INTO verifications({', '.join(_VERIFICATION_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _VERIFICATION_COLUMNS)}) RETURNING id"
)


def record_verification(tx: Tx, record: VerificationRecord) -> int:
    # A peer's details (its credentials, the recognitions that accepted them) repeat at every request it makes:
    # their large parts are kept once, by hash.
    row = record.to_row()
    row["detail"] = compact_column(tx, dict(record.detail), row["detail"], detail_text, REPEATED)
    return int(tx.execute(_RECORD_VERIFICATION, [row[c] for c in _VERIFICATION_COLUMNS]).fetchone()[0])


def prune_verifications(tx: Tx, keep: int = MAX_VERIFICATION_RECORDS) -> int:
    return tx.execute("DELETE FROM verifications WHERE id <= (SELECT MAX(id) FROM verifications) - ?", [keep]).rowcount


def list_verifications(
    tx: Tx, limit: int, offset: int, outcome: str | None = None, peer: str | None = None, code: str | None = None
) -> tuple[list[VerificationRecord], int]:
    """Newest first, filtered by outcome, peer and code (a code filter ending in '.' matches a prefix)."""
    where: list[str] = []
    args: list[Any] = []
    if outcome is not None:
        where.append("outcome = ?")
        args.append(outcome)
    if peer is not None:
        where.append("peer = ?")
        args.append(peer)
    if code is not None:
        if code.endswith("."):
            where.append("substr(code, 1, ?) = ?")
            args.extend([len(code), code])
        else:
            where.append("code = ?")
            args.append(code)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    total = tx.execute(f"SELECT COUNT(*) FROM verifications{clause}", args).fetchone()[0]
    rows = tx.execute(
        f"SELECT id, {', '.join(_VERIFICATION_COLUMNS)} FROM verifications{clause} ORDER BY id DESC LIMIT ? OFFSET ?",
        args + [limit, offset],
    ).fetchall()
    return [VerificationRecord.from_row({**dict(r), "detail": column_text(tx, r["detail"])}) for r in rows], int(total)
