"""`connector transfer AGREEMENT_ID --out FILE` and `connector fetch PEER DATASET_ID --out FILE`.

`transfer` asks the node for a transfer under an agreement (or continues the one a part file beside FILE belongs
to), waits until it is STARTED, pulls the data with the node's own TLS identity straight from the provider,
shows progress on stderr, has the node verify and keep the provider's seal, publishes FILE atomically and
completes the transfer. Run it again after an interruption (Ctrl-C says the exact command) and it continues
where it stopped; if the provider counts the data as delivered while the part is known to lack its end, the
transfer is terminated with the reason, and running it again starts a new one. `fetch` does the catalogue
request and the negotiation first, or with `--reuse` takes an agreement already concluded for that dataset: the
whole consumer side in one command.

Exit status: 0 done, 1 refused (the transfer or negotiation ended, the seal did not verify), 2 usage or
configuration, 3 the node or the provider unreachable, 130 interrupted.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.cli.base import EXIT_FAILED, EXIT_OK, Interrupted, Refused, Unreachable
from connector.cli.client import (
    ManagementClient,
    NodeError,
    add_config_argument,
    add_out_arguments,
    client_from,
    out_file,
    peer_body,
    run,
    seconds,
)
from connector.errors import ConfigError, ConnectorError, UsageError

if TYPE_CHECKING:
    from connector.config import Config
    from connector.pull.client import Identity, PullResult

PULL = "HttpData-PULL"
_LIVE_STATES = ("REQUESTED", "STARTED", "SUSPENDED")


def register(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("transfer", help="pull the data of an agreement into a file (resumes if interrupted)")
    tr.add_argument("agreement_id", metavar="AGREEMENT_ID", help="an agreement in which this node is the consumer")
    _common(tr)
    tr.set_defaults(func=cmd_transfer)

    fe = sub.add_parser("fetch", help="catalogue, negotiation and transfer in one command")
    fe.add_argument("peer", metavar="PEER", help="a peer name from the configuration, or its DSP URL")
    fe.add_argument("dataset_id", metavar="DATASET_ID", help="the dataset, as the peer's catalogue names it")
    fe.add_argument("--offer", dest="offer_id", help="which of the dataset's offers (default: the first)")
    fe.add_argument("--purpose", help="the purpose you declare for using the data")
    fe.add_argument(
        "--reuse",
        action="store_true",
        help="use the latest FINALIZED agreement with this peer for this dataset (and offer and purpose, if "
        "given) instead of negotiating again; negotiate only if there is none",
    )
    _common(fe)
    fe.set_defaults(func=cmd_fetch)


def _common(parser: argparse.ArgumentParser) -> None:
    add_out_arguments(parser, "where to write the data")
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=120.0,
        help="seconds to wait for the transfer to start or resume (default 120)",
    )
    parser.add_argument(
        "--retry-for",
        type=seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long to keep trying, with growing pauses, while the provider cannot be reached and no data "
        "arrives (default 60); then exit status 3, and running the command again continues",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON (errors too)")
    add_config_argument(parser)


def _identity(config: Config) -> Identity:
    from connector.pull.identity import pull_identity

    identity = pull_identity(config)
    if identity is None:
        raise ConfigError("config.missing_key", "pulling needs the node's TLS certificate and key", "identity.tls_cert")
    return identity


def _resumable(out: Path) -> str | None:
    """The transfer a part file beside `out` belongs to, if any."""
    from connector.pull.atomic_file import PartRecord, record_path

    try:
        return PartRecord.from_bytes(record_path(out).read_bytes()).transfer_id
    except (FileNotFoundError, ConnectorError):
        return None


async def _transfer_id(
    client: ManagementClient, agreement_id: str, out: Path, timeout: float, progress: Any
) -> tuple[str, bool]:
    """The transfer to pull: the one the part beside `out` belongs to while it lives, else a new one.
    Returns (id, whether a foreign part may be replaced)."""
    from urllib.parse import quote

    from connector.pull.link import ManagementLink

    previous = _resumable(out)
    if previous is not None:
        try:
            record = await client.call("GET", f"/v1/transfers/{quote(previous, safe='')}")
        except NodeError:
            record = None
        if record is not None and record.get("agreementId") == agreement_id and record.get("state") in _LIVE_STATES:
            progress.note(f"continuing transfer {previous}")
            return previous, False
    started = await client.call("POST", "/v1/transfers", {"agreementId": agreement_id, "format": PULL})
    record = await ManagementLink(client.call).wait_running(started["id"], timeout)
    if record["state"] == "TERMINATED":
        raise Refused(
            "transfer.terminated",
            f"the provider did not start the transfer: {record.get('reason') or 'no reason given'}",
        )
    if record["state"] != "STARTED":
        # Said here, once the wait of --timeout is over: the pull would only wait as long again.
        raise Unreachable(
            "pull.waiting",
            f"the transfer is still {record['state']} after {timeout:g} s; the node carries on: "
            f"see 'connector transfers {started['id']}'",
        )
    return started["id"], True


def _out(args: argparse.Namespace) -> Path:
    return Path(args.out).expanduser().absolute()


async def _pull(config: Config, agreement_id: str, args: argparse.Namespace) -> PullResult:
    from connector.cli.progress import ProgressBar
    from connector.pull.client import NoProgress, Puller
    from connector.pull.link import ManagementLink

    client = ManagementClient(config)
    link = ManagementLink(client.call)
    progress = NoProgress() if args.quiet else ProgressBar()
    out = out_file(args)
    identity = _identity(config)
    transfer_id, replace_foreign = await _transfer_id(client, agreement_id, out, args.timeout, progress)
    puller = Puller(
        link,
        identity,
        out,
        overwrite=args.overwrite,
        progress=progress,
        wait_timeout=args.timeout,
        retry_for=args.retry_for,
    )
    return await puller.pull(transfer_id, replace_foreign=replace_foreign)


def _report(result: PullResult, as_json: bool) -> int:
    from connector.cli.client import emit_json
    from connector.cli.progress import human_bytes

    rate = result.received / result.stream_seconds if result.stream_seconds > 0 else 0.0
    if as_json:
        emit_json(
            {
                "transferId": result.transfer_id,
                "file": str(result.path),
                "sha256": result.sha256,
                "size": result.size,
                "resumedFrom": result.resumed_from,
                "received": result.received,
                "streamSeconds": round(result.stream_seconds, 4),
                "streamCpuSeconds": round(result.stream_cpu_seconds, 4),
                "seconds": round(result.seconds, 4),
                "bytesPerSecond": round(rate),
                "seal": dict(result.verdict),
                "completed": result.completed,
                "completionError": result.completion_error,
            }
        )
        # The document says it all (completed, completionError); nothing more goes to stderr.
        return EXIT_OK if result.completed else EXIT_FAILED
    sealed = (
        f"sealed by {result.verdict.get('issuer')}"
        if result.verdict.get("sealed") is not False
        else "unsealed (the provider does not seal its data)"
    )
    print(
        f"saved {result.path} ({human_bytes(result.size)}, sha256 {result.sha256}), {sealed}; "
        f"received {human_bytes(result.received)} at {human_bytes(rate)}/s"
    )
    if result.completed:
        print(f"transfer {result.transfer_id} COMPLETED")
        return EXIT_OK
    print(
        f"connector: refused: the data is saved, but the transfer could not be completed: {result.completion_error}",
        file=sys.stderr,
    )
    return EXIT_FAILED


def _refusal(exc: ConnectorError) -> Refused:
    return Refused(exc.code, exc.reason, exc.where)


def _command(*words: str | Path) -> str:
    return " ".join(shlex.quote(str(w)) for w in words)


def _resume_command(args: argparse.Namespace, config: Config, agreement_id: str) -> str:
    words: list[str | Path] = ["connector", "transfer", agreement_id, "--out", _out(args)]
    if args.overwrite:
        words.append("--overwrite")
    words += ["--config", Path(config.source or args.config).absolute()]
    return _command(*words)


def _interrupted(args: argparse.Namespace, config: Config, agreement_id: str | None) -> Interrupted:
    """Ctrl-C: what was received stays in the part file; say exactly how to go on."""
    if sys.stderr.isatty() and not args.quiet:
        sys.stderr.write("\n")  # off the progress bar's line
    if agreement_id is not None:
        return Interrupted(
            "cli.interrupted",
            "the transfer stopped; the data received so far is kept and the next run continues from there: "
            + _resume_command(args, config, agreement_id),
        )
    words: list[str | Path] = ["connector", "fetch", args.peer, args.dataset_id, "--out", _out(args), "--reuse"]
    for flag, value in (("--offer", args.offer_id), ("--purpose", args.purpose)):
        if value:
            words += [flag, value]
    words += ["--config", Path(config.source or args.config).absolute()]
    return Interrupted(
        "cli.interrupted",
        "stopped before the transfer began; a negotiation under way goes on in the node, and this takes up "
        "its agreement once it is FINALIZED: " + _command(*words),
    )


def _pulled(config: Config, agreement_id: str, args: argparse.Namespace) -> int:
    from connector.evidence.seal import SealError
    from connector.pull.client import PullRefused, Undelivered

    try:
        result = run(_pull, config, agreement_id, args)
    except Undelivered as exc:
        # The part is gone and the transfer ended: the next run starts a new transfer.
        raise Refused(exc.code, f"{exc.reason} (running this command again does)", exc.where) from None
    except (PullRefused, SealError) as exc:
        raise _refusal(exc) from None
    except KeyboardInterrupt:
        raise _interrupted(args, config, agreement_id) from None
    return _report(result, args.json)


def cmd_transfer(args: argparse.Namespace) -> int:
    client = client_from(args)
    return _pulled(client.config, args.agreement_id, args)


async def _reusable(client: ManagementClient, args: argparse.Namespace) -> dict[str, Any] | None:
    """The latest FINALIZED negotiation (as consumer) of this dataset with this peer, or None."""
    if args.peer.startswith(("https://", "http://")):
        address, peer_id = args.peer.rstrip("/"), None
    else:
        entry = client.config.peer(args.peer)
        if entry is None:
            return None  # the node names the configured peers when it is asked for the catalogue
        address, peer_id = entry.address.rstrip("/"), entry.participant_id or None
    for neg in await client.every("/v1/negotiations", "&state=FINALIZED&role=consumer"):
        same_peer = (peer_id is not None and neg.get("counterPartyId") == peer_id) or (
            str(neg.get("counterPartyAddress") or "").rstrip("/") == address
        )
        if (
            same_peer
            and neg.get("agreementId")
            and neg.get("datasetId") == args.dataset_id
            and args.offer_id in (None, neg.get("offerId"))
            and args.purpose in (None, neg.get("purpose"))
        ):
            return dict(neg)
    return None


async def _negotiate(client: ManagementClient, args: argparse.Namespace) -> str:
    from connector.cli.processes import concluded

    body = peer_body(args.peer)
    catalog = await client.call("POST", "/v1/catalog/request", body)
    dataset = next((d for d in catalog["datasets"] if d["id"] == args.dataset_id), None)
    if dataset is None:
        known = ", ".join(d["id"] for d in catalog["datasets"]) or "none"
        raise UsageError(
            "cli.no_dataset",
            f"{catalog['participantId']} offers no dataset '{args.dataset_id}' to this node (offered: {known})",
            "DATASET_ID",
        )
    offers = [o for o in dataset["offers"] if args.offer_id in (None, o.get("@id"))]
    if not offers:
        raise UsageError("cli.no_offer", f"dataset '{args.dataset_id}' has no offer '{args.offer_id}'", "--offer")
    request: dict[str, Any] = {
        **body,
        "offerId": offers[0]["@id"],
        "datasetId": args.dataset_id,
        "counterPartyId": catalog["participantId"],
    }
    if args.purpose:
        request["purpose"] = args.purpose
    started = await client.call("POST", "/v1/negotiations", request)
    neg = await concluded(client, started["id"], args.timeout)
    return str(neg["agreementId"])


def cmd_fetch(args: argparse.Namespace) -> int:
    client = client_from(args)
    out_file(args)  # a mistake in --out is found before a negotiation is started for nothing

    async def agree() -> str:
        reused = await _reusable(client, args) if args.reuse else None
        if reused is not None:
            if not args.quiet:
                print(
                    f"reusing agreement {reused['agreementId']} (negotiation {reused['id']}, "
                    f"{str(reused.get('updatedAt') or '')[:19]})",
                    file=sys.stderr,
                )
            return str(reused["agreementId"])
        if args.reuse and not args.quiet:
            print("no FINALIZED agreement for this dataset with this peer yet: negotiating", file=sys.stderr)
        agreement_id = await _negotiate(client, args)
        if not args.quiet:
            print(f"agreement {agreement_id}", file=sys.stderr)
        return agreement_id

    try:
        agreement_id = run(agree)
    except KeyboardInterrupt:
        raise _interrupted(args, client.config, None) from None
    return _pulled(client.config, agreement_id, args)
