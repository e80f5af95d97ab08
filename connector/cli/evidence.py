"""`connector evidence export | verify | check | checkpoint | archive`: proof of what was agreed and delivered.

`export`, `checkpoint` and `archive` ask the running node (management API). `archive` moves the log's records up to
a checkpoint of a given age to a signed archive file in the node's evidence archive folder (`evidence.archive_dir`,
by default `evidence-archives` in its data folder), so that the live store stays small; `check` verifies the chain
through those archives. `verify` runs entirely offline, on the bundle and the trust lists the auditor chose, and
works on a machine that never saw either node: exit 0 only if every check holds and none is missing (complete
evidence), 1 if one fails or evidence is absent, 2 for usage errors (unreadable files, unusable trust lists).
`--accept-partial` accepts absent evidence, and the verdict says so. `check` asks the running node to verify its
whole log, or, when no node answers, reads the store file itself (read-only).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.cli.base import EXIT_FAILED, EXIT_OK, log_anchors, subcommands
from connector.cli.client import (
    add_config_argument,
    add_json_argument,
    add_out_arguments,
    client_from,
    emit_json,
    out_file,
    run,
)
from connector.errors import ConnectorError, UsageError, not_written


def register(sub: argparse._SubParsersAction) -> None:
    evidence = sub.add_parser("evidence", help="export, verify and check evidence (signed agreements, the log)")
    evidence_sub = subcommands(evidence, "evidence_command")

    exp = evidence_sub.add_parser("export", help="write the self-contained evidence bundle of an agreement")
    exp.add_argument("agreement_id", metavar="AGREEMENT_ID")
    add_out_arguments(exp, "the bundle file to write (its folder is made if need be)")
    add_config_argument(exp)
    exp.set_defaults(func=cmd_export)

    ver = evidence_sub.add_parser("verify", help="verify a bundle offline against federation trust lists")
    ver.add_argument("bundle", metavar="FILE", type=Path)
    ver.add_argument(
        "--trust-list",
        required=True,
        action="append",
        type=Path,
        dest="trust_lists",
        metavar="FILE",
        help="a federation's signed trust list, the JSON list or an ETSI TS 119 612 trusted list (XML); repeat for "
        "several federations. Time-stamps and credentials count by their service's status when they were made",
    )
    ver.add_argument("--agreement", help="the agreement id the bundle must be about")
    partial = ver.add_mutually_exclusive_group()
    partial.add_argument(
        "--accept-partial",
        action="store_true",
        help="accept a bundle where evidence is absent (an unsigned side, no time-stamp, no seal) as long as no "
        "check fails; the verdict says it was accepted as partial (default: absent evidence fails)",
    )
    partial.add_argument("--require-complete", action="store_true", help=argparse.SUPPRESS)  # the default now
    add_json_argument(ver)
    ver.set_defaults(func=cmd_verify)

    chk = evidence_sub.add_parser("check", help="verify the node's whole evidence log; report the first broken link")
    add_config_argument(chk)
    add_json_argument(chk)
    chk.set_defaults(func=cmd_check)

    cp = evidence_sub.add_parser("checkpoint", help="write a signed (and time-stamped) checkpoint of the log now")
    add_config_argument(cp)
    add_json_argument(cp)
    cp.set_defaults(func=cmd_checkpoint)

    arc = evidence_sub.add_parser(
        "archive", help="move the log's older records to a signed archive file; the live log goes on from there"
    )
    arc.add_argument(
        "--older-than-days",
        type=int,
        default=30,
        metavar="DAYS",
        help="archive up to the newest checkpoint at least this old (default 30; 0: a checkpoint made now)",
    )
    add_config_argument(arc)
    add_json_argument(arc)
    arc.set_defaults(func=cmd_archive)


def _write(path: Path, data: bytes) -> None:
    from connector.keys import write_public_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_public_file(path, data)
    except OSError as exc:
        raise not_written(exc, path, "export", "--out") from None


def cmd_export(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    client = client_from(args)
    out = out_file(args, folder_made=True)
    document = run(client.call, "GET", f"/v1/evidence/agreements/{quote(args.agreement_id, safe='')}/bundle")
    _write(out, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    log = document["log"]
    stamped = "time-stamped" if log["timestamps"] else "not time-stamped"
    print(
        f"wrote {out}: agreement {document['agreement']['@id']}, {len(log['proof']['records'])} log records "
        f"proven against a checkpoint of {log['proof']['upto']} records ({stamped})"
    )
    return EXIT_OK


def _read_json(path: Path, what: str, where: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError("cli.missing_file", f"{what} not found: {path}", where) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError("cli.unreadable", f"{what} {path} is not readable JSON: {exc}", where) from None
    except RecursionError:  # the parser's own bound, before it runs out of stack
        reason = f"{what} {path} nests arrays and objects too deeply to be read"
        raise UsageError("cli.unreadable", reason, where) from None


def cmd_verify(args: argparse.Namespace) -> int:
    from connector.evidence.audit import chosen_trust_lists, render, verdict, verify_against

    now = datetime.now(UTC)
    from connector.trust.trust_list import read_list_file

    document = _read_json(args.bundle, "bundle", "FILE")
    texts = []
    for path in args.trust_lists:
        try:
            texts.append((str(path), read_list_file(path)))
        except FileNotFoundError:
            raise UsageError("cli.missing_file", f"trust list not found: {path}", "--trust-list") from None
        except (OSError, ValueError) as exc:
            raise UsageError("cli.unreadable", f"trust list {path} is not readable: {exc}", "--trust-list") from None
    try:
        lists, notes = chosen_trust_lists(texts, now)
    except ConnectorError as exc:
        raise UsageError(exc.code, exc.reason, "--trust-list") from None
    report = verify_against(document, lists, now, expected_agreement=args.agreement)
    holds, said = verdict(report, args.accept_partial)
    if args.json:
        emit_json(
            {**report.to_json(), "holds": holds, "acceptPartial": args.accept_partial, "verdict": said, "notes": notes}
        )
    else:
        for note in notes:
            print(note)
        print(render(report, args.accept_partial))
    return EXIT_OK if holds else EXIT_FAILED


def _offline_check(args: argparse.Namespace) -> dict[str, Any]:
    """Check the store directly (the node is not running): read-only, nothing is migrated or written; SQLite or
    PostgreSQL, whichever the configuration names."""
    from connector.config import load_config
    from connector.evidence.edge.log_check import check_log
    from connector.store.copy import reading
    from connector.store.errors import StoreError

    config = load_config(args.config)
    source: str | Path = config.store.url or config.store_path
    if not config.store.url and not config.store_path.exists():
        raise UsageError("cli.missing_file", f"no store at {config.store_path}", "store.path")
    anchors, tsa = log_anchors(config)
    try:
        with reading(source, config.store_password()) as tx:
            archives = config.evidence_archive_dir
            result = check_log(tx, config.node.participant_id, anchors, tsa, datetime.now(UTC), archives)
    except StoreError as exc:
        where = "store.url" if config.store.url else "store.path"
        raise ConnectorError("evidence.store", f"the store cannot be read: {exc}", where) from None
    return {**result.to_json(), "offline": True}


def cmd_check(args: argparse.Namespace) -> int:
    client = client_from(args)
    try:
        result = run(client.call, "POST", "/v1/evidence/check", {}, 600)
    except ConnectorError as exc:
        if exc.code != "cli.node_down":
            raise
        result = _offline_check(args)
    if args.json:
        emit_json(result)
    else:
        source = "the store file (no node running)" if result.get("offline") else "the running node"
        print(
            f"checked {result['records']} records, {result['checkpoints']} checkpoints, "
            f"{result['timestamps']} time-stamps, {result['subjects']} subjects and {result['signatures']} "
            f"agreement signatures in {source}"
            + (f", through {result['archives']} archives" if result.get("archives") else "")
        )
        first = result.get("firstBreak")
        if first is None:
            print(f"the log is intact: head {result['head']['hash']} at seq {result['head']['count']}")
        else:
            where = f" ({first['where']})" if first.get("where") else ""
            print(f"FIRST BROKEN LINK [{first['code']}]{where}: {first['reason']}")
            for other in result["problems"][1:]:
                print(f"  also [{other['code']}]: {other['reason']}")
    return EXIT_OK if result["ok"] else EXIT_FAILED


def cmd_checkpoint(args: argparse.Namespace) -> int:
    client = client_from(args)
    described = run(client.call, "POST", "/v1/evidence/checkpoints", {})
    if args.json:
        emit_json(described)
        return EXIT_OK
    stamps = described.get("timestamps") or []
    stamp = f", time-stamped {stamps[0]['genTime']} by {stamps[0]['tsa']}" if stamps else ", not time-stamped"
    made = "written" if described.get("created") else "already current"
    print(
        f"checkpoint {described['id']} {made}: {described['count']} records, head {described['head']}, "
        f"at {described['at']}{stamp}"
    )
    return EXIT_OK


def cmd_archive(args: argparse.Namespace) -> int:
    if args.older_than_days < 0:
        raise UsageError("cli.usage", "--older-than-days must be 0 or more", "--older-than-days")
    client = client_from(args)
    described = run(client.call, "POST", "/v1/evidence/archives", {"olderThanDays": args.older_than_days}, 600)
    if args.json:
        emit_json(described)
        return EXIT_OK
    print(
        f"records {described['first']}-{described['last']} archived to {described['path']} "
        f"(sha256 {described['sha256']}, signed manifest beside it); the live log goes on from checkpoint "
        f"{described['checkpoint']}"
    )
    return EXIT_OK


__all__ = ["register"]
