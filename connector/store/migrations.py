"""The versioned schema: one ordered list of migrations, each applied once, in its own transaction.

Never edit a migration that has shipped; add a new one at the end. Every table of the node is created here (no
other package adds to the list). A migration's SQL is written once for every dialect: the few things SQLite and
PostgreSQL spell differently are named (`$serial_key`, ...) and spelled by `SPELLINGS`; what has no common form
(the evidence tables' guarding triggers) is given per dialect, and runs after the common part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from string import Template

from connector.store.interface import Dialect

SPELLINGS: dict[Dialect, dict[str, str]] = {
    "sqlite": {
        "serial_key": "INTEGER PRIMARY KEY AUTOINCREMENT",  # a key the store assigns, never reused
        "row_key": "INTEGER PRIMARY KEY",  # an integer key, assigned by the store where none is given
        "bytes": "BLOB",
        "keyed_only": "WITHOUT ROWID",  # a table stored by its primary key alone
    },
}


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str  # for every dialect, with the names of SPELLINGS
    only: Mapping[Dialect, str] = field(default_factory=dict)  # dialect -> what runs there alone, after `sql`

    def script(self, dialect: Dialect) -> str:
        """The migration as `dialect` runs it."""
        spelled = Template(self.sql).substitute(SPELLINGS[dialect])
        return spelled + self.only.get(dialect, "")


_GENESIS = "0" * 64


def _sqlite_append_only(table: str) -> str:
    """Triggers that refuse UPDATE and DELETE: evidence is written once, through the node's code only."""
    return f"""
        CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, 'evidence.append_only: {table} rows cannot be changed'); END;
        CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
        BEGIN SELECT RAISE(ABORT, 'evidence.append_only: {table} rows cannot be deleted'); END;
    """


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "node settings and schema history",
        """
        CREATE TABLE schema_history (
            version INTEGER PRIMARY KEY,
            description TEXT NOT NULL,
            applied_at TEXT NOT NULL
        );
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ),
    Migration(
        2,
        "control plane: assets, policies, offers, negotiations, agreements, transfers, outbox",
        """
        CREATE TABLE assets (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            keywords TEXT NOT NULL DEFAULT '[]',
            media_type TEXT NOT NULL DEFAULT 'application/octet-stream',
            formats TEXT NOT NULL DEFAULT '["HttpData-PULL"]',
            source TEXT NOT NULL DEFAULT '{}',
            properties TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE policies (
            id TEXT PRIMARY KEY,
            description TEXT NOT NULL DEFAULT '',
            policy TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE offers (
            id TEXT PRIMARY KEY,
            asset_id TEXT NOT NULL REFERENCES assets(id) ON DELETE RESTRICT,
            contract_policy_id TEXT NOT NULL REFERENCES policies(id) ON DELETE RESTRICT,
            access_policy_id TEXT REFERENCES policies(id) ON DELETE RESTRICT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX offers_by_asset ON offers(asset_id);
        CREATE TABLE negotiations (
            id TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('provider', 'consumer')),
            state TEXT NOT NULL,
            provider_pid TEXT,
            consumer_pid TEXT,
            peer_id TEXT NOT NULL,
            peer_address TEXT NOT NULL,
            dataset_id TEXT,
            offer_id TEXT,
            offer TEXT,
            requested TEXT,
            agreement_id TEXT,
            purpose TEXT,
            pending TEXT,
            reason TEXT,
            claims TEXT,
            deadline_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX negotiations_provider_dedup ON negotiations(peer_id, consumer_pid) WHERE role = 'provider';
        CREATE UNIQUE INDEX negotiations_consumer_dedup ON negotiations(peer_id, provider_pid)
            WHERE role = 'consumer' AND provider_pid IS NOT NULL;
        CREATE INDEX negotiations_open ON negotiations(state) WHERE state NOT IN ('FINALIZED', 'TERMINATED');
        CREATE INDEX negotiations_by_update ON negotiations(updated_at);
        CREATE TABLE agreements (
            id TEXT PRIMARY KEY,
            negotiation_id TEXT NOT NULL REFERENCES negotiations(id),
            provider_id TEXT NOT NULL,
            consumer_id TEXT NOT NULL,
            dataset_id TEXT NOT NULL,
            policy TEXT NOT NULL,
            concluded_at TEXT NOT NULL,
            finalized INTEGER NOT NULL DEFAULT 0,
            provider_address TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX agreements_by_negotiation ON agreements(negotiation_id);
        CREATE TABLE transfers (
            id TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('provider', 'consumer')),
            state TEXT NOT NULL,
            provider_pid TEXT,
            consumer_pid TEXT,
            peer_id TEXT NOT NULL,
            peer_address TEXT NOT NULL,
            agreement_id TEXT NOT NULL,
            format TEXT NOT NULL,
            data_address TEXT,
            pending TEXT,
            reason TEXT,
            claims TEXT,
            deadline_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX transfers_provider_dedup ON transfers(peer_id, consumer_pid) WHERE role = 'provider';
        CREATE INDEX transfers_open ON transfers(state) WHERE state NOT IN ('COMPLETED', 'TERMINATED');
        CREATE INDEX transfers_by_agreement ON transfers(agreement_id);
        CREATE TABLE process_history (
            process_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('negotiation', 'transfer')),
            at TEXT NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            cause TEXT NOT NULL,
            reason TEXT,
            detail TEXT,
            PRIMARY KEY (process_id, seq)
        );
        CREATE TABLE outbox (
            id $serial_key,
            process_kind TEXT NOT NULL,
            process_id TEXT NOT NULL,
            peer_id TEXT NOT NULL,
            url TEXT NOT NULL,
            message_type TEXT NOT NULL,
            body TEXT NOT NULL,
            not_before TEXT,
            deadline_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX outbox_by_process ON outbox(process_id, id);
        CREATE TABLE received_messages (
            peer_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            process_id TEXT,
            status INTEGER NOT NULL,
            response TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (peer_id, message_id)
        );
        """,
    ),
    Migration(
        3,
        "trust: replay cache, kept trust lists, own credentials, verification records",
        """
        CREATE TABLE trust_replay (
            issuer TEXT NOT NULL,
            jti TEXT NOT NULL,
            until_epoch INTEGER NOT NULL,
            PRIMARY KEY (issuer, jti)
        ) $keyed_only;
        CREATE INDEX trust_replay_by_until ON trust_replay(until_epoch);
        CREATE TABLE trust_list_copies (
            anchor_sha256 TEXT PRIMARY KEY,
            federation_id TEXT NOT NULL,
            federation_name TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            valid_from TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            jws TEXT NOT NULL,
            source TEXT NOT NULL,
            stored_at TEXT NOT NULL
        );
        CREATE TABLE own_credentials (
            id TEXT PRIMARY KEY,
            types TEXT NOT NULL,
            issuer TEXT NOT NULL,
            valid_until TEXT,
            sha256 TEXT NOT NULL,
            token TEXT NOT NULL,
            source TEXT NOT NULL,
            loaded_at TEXT NOT NULL
        );
        CREATE TABLE verifications (
            id $serial_key,
            at TEXT NOT NULL,
            peer TEXT,
            outcome TEXT NOT NULL CHECK (outcome IN ('verified', 'refused')),
            code TEXT,
            reason TEXT,
            step TEXT,
            method TEXT,
            path TEXT,
            request_id TEXT,
            detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX verifications_by_outcome ON verifications(outcome, id);
        CREATE INDEX verifications_by_peer ON verifications(peer, id);
        """,
    ),
    Migration(
        4,
        "data plane: flows (pull tokens, push destinations, seals) and digests of repeatable sources",
        """
        CREATE TABLE data_flows (
            transfer_id TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('provider', 'consumer')),
            kind TEXT NOT NULL CHECK (kind IN ('pull', 'push')),
            epoch INTEGER NOT NULL DEFAULT 0,
            token_id TEXT,
            token_expires_at TEXT,
            token_cert TEXT,
            address TEXT,
            sha256 TEXT,
            size INTEGER,
            seal TEXT,
            seal_verified_at TEXT,
            seal_signer TEXT,
            file TEXT,
            bytes_sent INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE data_digests (
            source_key TEXT NOT NULL,
            etag TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            media_type TEXT NOT NULL,
            computed_at TEXT NOT NULL,
            PRIMARY KEY (source_key, etag)
        );
        """,
    ),
    Migration(
        5,
        "evidence: hash-chained records, their subjects, signed checkpoints, time-stamps, agreement signatures",
        """
        CREATE TABLE evidence_records (
            seq $row_key,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            process_id TEXT,
            peer TEXT,
            subject_sha256 TEXT,
            data TEXT NOT NULL,
            prev TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX evidence_records_by_process ON evidence_records(process_id) WHERE process_id IS NOT NULL;
        CREATE TABLE evidence_subjects (
            sha256 TEXT PRIMARY KEY,
            body TEXT NOT NULL
        ) $keyed_only;
        CREATE TABLE evidence_checkpoints (
            id $row_key,
            count INTEGER NOT NULL,
            head TEXT NOT NULL,
            at TEXT NOT NULL,
            jws TEXT NOT NULL
        );
        CREATE TABLE evidence_timestamps (
            checkpoint_id INTEGER NOT NULL REFERENCES evidence_checkpoints(id),
            gen_time TEXT NOT NULL,
            tsa TEXT NOT NULL,
            serial TEXT NOT NULL,
            token $bytes NOT NULL,
            PRIMARY KEY (checkpoint_id, tsa, serial)
        );
        CREATE TABLE agreement_signatures (
            agreement_id TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('provider', 'consumer')),
            status TEXT NOT NULL CHECK (status IN ('signed', 'verified', 'unsigned', 'invalid')),
            signer TEXT NOT NULL,
            jws TEXT,
            code TEXT,
            reason TEXT,
            at TEXT NOT NULL,
            PRIMARY KEY (agreement_id, role)
        );
        """,
        # The evidence tables refuse UPDATE and DELETE, and `evidence_records` refuses any insert that does not
        # extend the chain by exactly one record: in SQLite by triggers.
        only={
            "sqlite": f"""
        CREATE TRIGGER evidence_records_chain BEFORE INSERT ON evidence_records
        WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM evidence_records)
          OR NEW.prev IS NOT COALESCE((SELECT hash FROM evidence_records WHERE seq = NEW.seq - 1), '{_GENESIS}')
        BEGIN SELECT RAISE(ABORT, 'evidence.chain: a record must follow the last one'); END;
        {_sqlite_append_only("evidence_records")}
        {_sqlite_append_only("evidence_subjects")}
        {_sqlite_append_only("evidence_checkpoints")}
        {_sqlite_append_only("evidence_timestamps")}
        {_sqlite_append_only("agreement_signatures")}
        """,
        },
    ),
    Migration(
        6,
        "data plane: when a pull transfer's data was delivered in full (a transfer is one use of its agreement)",
        """
        ALTER TABLE data_flows ADD COLUMN delivered_at TEXT;
        """,
    ),
)
