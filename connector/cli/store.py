"""`connector store backup | copy | migrate | restricted-role`: the node's store itself.

`backup --to FILE` takes a consistent copy of a SQLite store while the node runs (SQLite's online backup), and
checks it: SQLite's integrity check and the evidence log's (as `connector evidence check`). To restore, stop the
node and put the copy at store.path. The other commands want the node stopped.

`copy --to TARGET` copies the whole store of the configured node (SQLite at store.path, or PostgreSQL at
store.url) into TARGET, a `postgresql://` URL or an SQLite file, which must hold no data; the copy commits only
once its row counts match and its evidence log verifies (the same check as `connector evidence check`). Then point
the node's configuration at the copy. `migrate` brings the configured store to this program's schema and exits
(for a database whose node will log in with a restricted role). `restricted-role NAME` prints the SQL that creates
such a role: every right the node needs, none to change or delete evidence.
"""

from __future__ import annotations

import argparse
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from connector.cli.base import EXIT_FAILED, EXIT_OK, log_anchors
from connector.cli.client import add_config_argument, add_json_argument, emit_json
from connector.errors import ConnectorError, UsageError, no_space


def register(sub: argparse._SubParsersAction) -> None:
    from connector.cli.base import Parser

    store = sub.add_parser(
        "store", help="back up the node's store, copy it to another database, migrate it, restrict its role"
    )
    store_sub = store.add_subparsers(dest="store_command", metavar="COMMAND", parser_class=Parser)
    store_sub.required = True

    bk = store_sub.add_parser(
        "backup", help="copy a SQLite store, while the node runs, to a new file, and check the copy"
    )
    bk.add_argument("--to", required=True, type=Path, metavar="FILE", help="the new file (must not exist)")
    add_config_argument(bk)
    add_json_argument(bk)
    bk.set_defaults(func=cmd_backup)

    cp = store_sub.add_parser(
        "copy", help="copy the whole store (evidence included) into an empty PostgreSQL database or SQLite file"
    )
    cp.add_argument("--to", required=True, metavar="TARGET", help="a postgresql:// URL, or the path of an SQLite file")
    cp.add_argument("--password-file", type=Path, metavar="FILE", help="file holding the password for the target's URL")
    add_config_argument(cp)
    add_json_argument(cp)
    cp.set_defaults(func=cmd_copy)

    mig = store_sub.add_parser("migrate", help="bring the configured store to this program's schema, then exit")
    add_config_argument(mig)
    mig.set_defaults(func=cmd_migrate)

    role = store_sub.add_parser(
        "restricted-role", help="print the SQL creating a PostgreSQL role for the node that cannot change evidence"
    )
    role.add_argument("name", metavar="ROLE")
    add_config_argument(role)
    role.set_defaults(func=cmd_restricted_role)


def _config(args: argparse.Namespace) -> Any:
    from connector.config import load_config

    if args.config is None:
        raise UsageError("cli.missing_config", "give the node's configuration with --config (or $CONNECTOR_CONFIG)")
    return load_config(args.config)


def _source(config: Any) -> str | Path:
    return str(config.store.url) if config.store.url else Path(config.store_path)


def _same(a: str | Path, b: str | Path) -> bool:
    if isinstance(a, Path) and isinstance(b, Path):
        return a.resolve() == b.resolve()
    return str(a) == str(b)


class _Unverified(Exception):
    def __init__(self, copy: Any, source: Any) -> None:
        self.copy, self.source = copy, source


def cmd_backup(args: argparse.Namespace) -> int:
    from connector.evidence.edge.log_check import check_log
    from connector.store.backup import backup_sqlite
    from connector.store.copy import reading
    from connector.store.migrations import MIGRATIONS

    config = _config(args)
    if config.store.url:
        raise UsageError(
            "cli.usage",
            "the node's store is PostgreSQL: back it up with the database's own tools (pg_dump, or continuous "
            "archiving), see the README's operations guide",
            "store.url",
        )
    target = args.to.expanduser().resolve()
    if _same(Path(config.store_path), target):
        raise UsageError("cli.usage", "the target is the node's own store", "--to")
    made = backup_sqlite(Path(config.store_path), target)
    if made.schema_version != MIGRATIONS[-1].version:
        return _other_version(made, MIGRATIONS[-1].version, args.json)
    anchors, tsa = log_anchors(config)
    # The log's older records may have moved to evidence archives: the copy continues them, and is checked through
    # them as the node's own log is. They are files of their folder (evidence.archive_dir), not of the store:
    # backed up beside it.
    archives = config.evidence_archive_dir
    with reading(target) as tx:
        check = check_log(tx, config.node.participant_id, anchors, tsa, datetime.now(UTC), archives)
    if args.json:
        emit_json(_backed_up(made, check.to_json(), str(archives) if check.archives else None))
        return EXIT_OK if check.ok else EXIT_FAILED
    print(_backed_up_line(made))
    if not check.ok:
        first = check.first_break
        print(f"the copy's evidence log does NOT verify [{first.code}]: {first.reason}" if first else "")
        print("(the copy is kept: it is what the store holds; `connector evidence check` on the node says more)")
        return EXIT_FAILED
    print(
        f"its evidence log verifies: {check.records} records (head {check.head.hash} at seq {check.head.count}), "
        f"{check.checkpoints} checkpoints, {check.timestamps} time-stamps"
    )
    if check.archives:
        print(
            f"it continues {check.archives} evidence archive(s) in {archives}: back that folder up with the store "
            "(its files never change once written); a restored store is checked through them"
        )
    return EXIT_OK


def _other_version(made: Any, known: int, as_json: bool) -> int:
    """A store another version wrote (a stopped node's, before this version first starts it): the copy is the store
    as that version wrote it, the one to restore for it; this program (schema version `known`) does not read that
    version's log."""
    older = made.schema_version < known
    if as_json:
        emit_json(_backed_up(made, None, None))
        return EXIT_OK
    print(_backed_up_line(made))
    print(
        f"it was written by an {'older' if older else 'newer'} version (this program's schema version is {known}): "
        "the copy is the store as that version wrote it (SQLite's integrity check holds), the one to restore for "
        "it; "
        + (
            "its evidence log is checked once the node has migrated the store (start it, then `connector evidence "
            "check`)"
            if older
            else "that version checks its evidence log"
        )
    )
    return EXIT_OK


def _backed_up(made: Any, check: dict[str, Any] | None, archives: str | None) -> dict[str, Any]:
    """`backup --json`'s answer: the copy, and its log's check (None: not checked, another version's store)."""
    return {
        "backedUp": True,
        "to": str(made.path),
        "bytes": made.bytes,
        "schemaVersion": made.schema_version,
        "check": check,
        "evidenceArchives": archives,
    }


def _backed_up_line(made: Any) -> str:
    return f"backed up the store ({made.bytes} bytes, schema version {made.schema_version}) to {made.path}"


def cmd_copy(args: argparse.Namespace) -> int:
    from connector.evidence.edge.log_check import check_log
    from connector.node.listeners import exclusive
    from connector.store.copy import copy_rows, is_url, reading, writing
    from connector.store.errors import StoreUnwritable

    config = _config(args)
    source = _source(config)
    target: str | Path = args.to if is_url(args.to) else Path(args.to).expanduser().resolve()
    if _same(source, target):
        raise UsageError("cli.usage", "the target is the node's own store", "--to")
    if isinstance(target, Path) and target.is_dir():
        raise UsageError("cli.usage", f"{target} is a folder: give the SQLite file to write", "--to")
    password = None
    if args.password_file is not None:
        try:
            password = args.password_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise UsageError(
                "cli.missing_file", f"cannot read {args.password_file}: {exc}", "--password-file"
            ) from None
    anchors, tsa = log_anchors(config)
    node = config.node.participant_id
    archives = config.evidence_archive_dir  # the copy's records moved to archives are checked there, as before
    # With SQLite, the data folder's lock keeps the node from running (PostgreSQL: the database's lock, in reading).
    folder = config.node.data_dir
    guard = exclusive(folder) if not is_url(source) and folder.is_dir() else contextlib.nullcontext()
    try:
        with guard, reading(source, config.store_password()) as src, writing(target, password) as dst:
            copied = copy_rows(src, dst)
            check = check_log(dst, node, anchors, tsa, datetime.now(UTC), archives)
            if not check.ok:
                raise _Unverified(check, check_log(src, node, anchors, tsa, datetime.now(UTC), archives))
    except ConnectorError as exc:
        if exc.code == "node.already_running":
            raise ConnectorError(exc.code, "the node is running: stop it before copying its store", exc.where) from None
        raise
    except StoreUnwritable as exc:  # the target's disk is full or failing (the source is only read)
        raise _unwritable(exc, target) from None
    except _Unverified as failed:
        first = failed.copy.first_break
        already = "the source's log has the same problem" if not failed.source.ok else "the source's log verifies"
        if args.json:
            emit_json({"copied": False, "check": failed.copy.to_json(), "sourceCheck": failed.source.to_json()})
        else:
            broken = f"[{first.code}]: {first.reason}"
            print(f"nothing was copied: the copy's evidence log does not verify {broken} ({already})")
        return EXIT_FAILED
    shown = _describe(str(target)) if is_url(str(target)) else str(target)
    if args.json:
        emit_json({"copied": True, "to": str(shown), "tables": copied.tables, "check": check.to_json()})
        return EXIT_OK
    print(f"copied {copied.rows} rows to {shown}:")
    for table, count in copied.tables.items():
        if count:
            print(f"  {table:<22} {count}")
    print(
        f"the copy's evidence log verifies: {check.records} records (head {check.head.hash} at seq "
        f"{check.head.count}), {check.checkpoints} checkpoints, {check.timestamps} time-stamps, "
        f"{check.subjects} subjects, {check.signatures} agreement signatures"
    )
    return EXIT_OK


def _unwritable(exc: Exception, target: str | Path) -> ConnectorError:
    import sqlite3

    shown = _describe(str(target)) if isinstance(target, str) else str(target)
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error) and (getattr(cause, "sqlite_errorcode", 0) or 0) & 0xFF == sqlite3.SQLITE_FULL:
        return no_space(shown, "store.copy", "--to")
    return ConnectorError("store.copy.unwritable", f"{shown} cannot be written ({exc}): nothing was copied", "--to")


def _describe(url: str) -> str:
    from connector.store.postgres import describe

    return describe(url)


def cmd_migrate(args: argparse.Namespace) -> int:
    from connector.node.listeners import open_store

    config = _config(args)

    async def migrate() -> int:
        async with open_store(config) as store:
            return await store.schema_version()

    import asyncio

    version = asyncio.run(migrate())
    where = _describe(config.store.url) if config.store.url else str(config.store_path)
    print(f"the store {where} is at schema version {version}")
    return EXIT_OK


def cmd_restricted_role(args: argparse.Namespace) -> int:
    from connector.store.postgres import restricted_role_sql

    config = _config(args)
    if not config.store.url:
        raise UsageError("cli.usage", "the node's store is SQLite: a role is for PostgreSQL (store.url)", "store.url")
    database = unquote(urlsplit(config.store.url).path.lstrip("/"))
    if not database:
        raise UsageError("cli.usage", "store.url names no database", "store.url")
    print(f"-- Run as the owner of {database}, after the node's tables exist (`connector store migrate`).")
    print(restricted_role_sql(args.name, database), end="")
    return EXIT_OK


__all__ = ["register"]
