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
