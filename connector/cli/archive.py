"""`connector export --all --out FILE` and `connector import FILE`: everything a node holds, to take elsewhere.

`export` reads the configured store in one snapshot (the node may be running) and writes a signed archive: JSON
Lines files of the node's assets, policies, offers, negotiations, agreements, transfers and their histories, data
received and its duties, receipts, counterparties and the whole evidence log with its checkpoints, time-stamps and
signatures, with a manifest of their SHA-256, signed with the node's signing key (docs/archive.md). `import`
restores an archive into the configured store, which must be empty (a fresh node, stopped): it verifies the
manifest's signature and every file first, and commits only once the restored evidence log verifies.
"""

from __future__ import annotations

import argparse
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.cli.base import EXIT_OK, Refused, log_anchors
from connector.cli.client import add_config_argument, add_json_argument, add_out_arguments, emit_json, load, out_file
from connector.errors import ConnectorError, UsageError


def register(sub: argparse._SubParsersAction) -> None:
    exp = sub.add_parser("export", help="write a signed archive of everything the node holds (evidence included)")
    exp.add_argument("--all", action="store_true", help="everything: definitions, processes, evidence (required)")
    add_out_arguments(exp, "the archive to write")
    add_config_argument(exp)
    add_json_argument(exp)
    exp.set_defaults(func=cmd_export)

    imp = sub.add_parser("import", help="restore an archive into the node's empty store, verifying it first")
    imp.add_argument("archive", metavar="FILE", type=Path)
    add_config_argument(imp)
    add_json_argument(imp)
    imp.set_defaults(func=cmd_import)


def _store(config: Any) -> str | Path:
    return str(config.store.url) if config.store.url else Path(config.store_path)


def cmd_export(args: argparse.Namespace) -> int:
    from connector.archive.export import write_archive
    from connector.evidence.edge.service import signing_identity
    from connector.identity import load_identity
    from connector.store.copy import is_url

    if not args.all:
        raise UsageError("cli.usage", "say what to export: --all (everything the node holds)", "--all")
    config = load(args)
    if config.protocol.insecure_http:
        raise UsageError("cli.usage", "a node without a signing identity cannot sign its archive", "identity")
    anchors, _ = log_anchors(config)
    signer = signing_identity(load_identity(config, anchors))
    source = _store(config)
    out = out_file(args)
    with _snapshot(source, config.store_password()) as tx:
        exported = write_archive(tx, out, signer, datetime.now(UTC), config.evidence_archive_dir)
    manifest = exported.manifest
    if args.json:
        emit_json({"archive": str(out), "bytes": exported.size, "manifest": manifest.to_json()})
        return EXIT_OK
    where = "PostgreSQL" if is_url(str(source)) else str(source)
    print(f"wrote {out} ({exported.size} bytes) from {where}, signed by {manifest.node}:")
    for entry in manifest.files:
        print(f"  {entry.path:<28} {entry.rows}")
    print(f"evidence: {manifest.records} records (head {manifest.head}), {manifest.checkpoints} checkpoints")
    return EXIT_OK


@contextlib.contextmanager
def _snapshot(source: str | Path, password: str | None) -> Any:
    """One read-only transaction on the store (a snapshot: a running node may go on writing meanwhile)."""
    from connector.store import copy
    from connector.store.errors import StoreError

    try:
        if copy.is_url(str(source)):
            from connector.store import postgres

            with postgres.reading(str(source), password) as tx:
                copy.check_version(tx, postgres.describe(str(source)))
                yield tx
        else:
            from connector.store import sqlite

            if not Path(source).is_file():
                raise UsageError("cli.missing_file", f"no store at {source}", "store.path")
            with sqlite.reading(source) as tx:
                copy.check_version(tx, str(source))
                yield tx
    except StoreError as exc:
        raise ConnectorError("store.unavailable", f"the store cannot be read: {exc}") from None


def cmd_import(args: argparse.Namespace) -> int:
    from connector.archive.restore import open_archive, restore
    from connector.evidence.edge.log_check import check_log
    from connector.node.listeners import exclusive
    from connector.store.copy import is_url, writing

    config = load(args)
    anchors, tsa = log_anchors(config)
    node = config.node.participant_id
    target = _store(config)
    folder = config.node.data_dir
    if not is_url(str(target)):
        folder.mkdir(parents=True, exist_ok=True)
    guard = exclusive(folder) if not is_url(str(target)) else contextlib.nullcontext()
    evidence_archives = config.evidence_archive_dir
    written: list[Path] = []  # evidence archive files put in the node's folder, removed if nothing is restored
    try:
        with guard, open_archive(args.archive, anchors) as opened:
            manifest = opened.manifest
            if manifest.node != node:
                raise ConnectorError(
                    "archive.node", f"the archive is of {manifest.node}; this node is {node}", "node.participant_id"
                )
            with writing(target, config.store_password()) as tx:
                restored = restore(tx, opened, evidence_archives, written)
                check = check_log(tx, node, anchors, tsa, datetime.now(UTC), evidence_archives)
                if not check.ok:
                    first = check.problems[0]
                    raise ConnectorError(
                        "archive.evidence", f"the restored evidence log does not verify [{first.code}]: {first.reason}"
                    )
                if (check.head.count, check.head.hash) != (manifest.records, manifest.head):
                    raise ConnectorError("archive.evidence", "the restored log does not end where the manifest says")
    except BaseException as exc:
        for put in written:  # nothing was restored: the evidence archive files put for it go too
            with contextlib.suppress(OSError):
                put.unlink()
        if isinstance(exc, ConnectorError) and exc.code == "node.already_running":
            raise ConnectorError(exc.code, "the node is running: stop it before importing", exc.where) from None
        if isinstance(exc, ConnectorError) and exc.code.startswith("archive."):  # the archive does not verify
            raise Refused(exc.code, f"{exc.reason}; nothing was restored", exc.where) from None
        raise
    if args.json:
        emit_json({"imported": True, "node": node, "files": restored, "check": check.to_json()})
        return EXIT_OK
    print(f"restored the archive of {node} made {manifest.created_at.isoformat()} ({manifest.program}):")
    for path, count in restored.items():
        print(f"  {path:<28} {count}")
    print(
        f"the restored evidence log verifies: {check.records} records (head {check.head.hash} at seq "
        f"{check.head.count}), {check.checkpoints} checkpoints, {check.timestamps} time-stamps, "
        f"{check.subjects} subjects, {check.signatures} agreement signatures"
    )
    return EXIT_OK


__all__ = ["register"]
