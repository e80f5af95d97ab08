"""The versioned schema: an ordered list of migrations, each applied once, in its own transaction.

Never edit a migration that has shipped; add a new one. The schema version is SQLite's `user_version`, and
`schema_history` records when each step was applied.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


MIGRATIONS: list[Migration] = [
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
]


def register(migration: Migration) -> None:
    """Subsystems add their migrations at import time; versions must be unique and increasing."""
    if any(m.version == migration.version for m in MIGRATIONS):
        raise ValueError(f"migration {migration.version} registered twice")
    MIGRATIONS.append(migration)
    MIGRATIONS.sort(key=lambda m: m.version)

MIGRATIONS.append(
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
            id INTEGER PRIMARY KEY AUTOINCREMENT,
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
    )
)
