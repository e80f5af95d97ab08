"""`connector transfer AGREEMENT_ID --out FILE` and `connector fetch PEER DATASET_ID --out FILE`.

`transfer` asks the node for a transfer under an agreement (or continues the one a part file beside FILE belongs
to), waits until it is STARTED, pulls the data with the node's own TLS identity straight from the provider,
shows progress on stderr, has the node verify and keep the provider's seal, publishes FILE atomically and
completes the transfer. Run it again after an interruption and it continues where it stopped. `fetch` does the
catalogue request and the negotiation first: the whole consumer side in one command.

Exit status: 0 done, 1 refused (the transfer or negotiation ended, the seal did not verify), 2 usage or
configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connector.cli.base import EXIT_FAILED, EXIT_OK
from connector.cli.client import ManagementClient, NodeError, add_config_argument, client_from, peer_body, run
from connector.cli.progress import ProgressBar, human_bytes
from connector.config import Config
from connector.errors import ConfigError, ConnectorError, UsageError
from connector.evidence.seal import SealError
from connector.pull.atomic_file import PartRecord, record_path
from connector.pull.client import Identity, NoProgress, NotRunning, Puller, PullRefused, PullResult

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
    _common(fe)
    fe.set_defaults(func=cmd_fetch)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="where to write the data")
    parser.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the transfer to start or resume (default 120)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    add_config_argument(parser)


class _Link:
    """The puller's view of the node: the management API."""

    def __init__(self, client: ManagementClient) -> None:
        self.client = client

    async def access(self, transfer_id: str) -> Mapping[str, Any]:
        try:
            return await self.client.call("POST", f"/v1/transfers/{transfer_id}/token", timeout=60)
        except NodeError as exc:
            if exc.code == "transfer.invalid_state":
                raise NotRunning(exc.code, exc.reason) from None
            raise

    async def wait_running(self, transfer_id: str, timeout: float) -> Mapping[str, Any]:
        return await self.client.call(
            "GET", f"/v1/transfers/{transfer_id}?wait=STARTED&timeout={timeout}", timeout=timeout + 10
        )

    async def report_seal(self, transfer_id: str, report: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            return await self.client.call("POST", f"/v1/transfers/{transfer_id}/seal", dict(report), timeout=60)
        except NodeError as exc:
            if exc.code.startswith("seal."):
                raise PullRefused(exc.code, exc.reason) from None
            raise

    async def complete(self, transfer_id: str) -> Mapping[str, Any]:
        return await self.client.call("POST", f"/v1/transfers/{transfer_id}/complete")


def _identity(config: Config) -> Identity:
    ident = config.identity
    if ident.tls_cert is None or ident.tls_key is None:
        raise ConfigError("config.missing_key", "pulling needs the node's TLS certificate and key", "identity.tls_cert")
    if not config.trust.crl:
        raise ConfigError("config.missing_key", "pulling needs the revocation lists of the authorities", "trust.crl")
    return Identity(ident.tls_cert, ident.tls_key, tuple(config.trust.crl))


def _resumable(out: Path) -> str | None:
    """The transfer a part file beside `out` belongs to, if any."""
    try:
        return PartRecord.from_bytes(record_path(out).read_bytes()).transfer_id
    except (FileNotFoundError, ConnectorError):
        return None


async def _transfer_id(link: _Link, agreement_id: str, out: Path, timeout: float, progress: Any) -> tuple[str, bool]:
    """The transfer to pull: the one the part beside `out` belongs to while it lives, else a new one.
    Returns (id, whether a foreign part may be replaced)."""
    client = link.client
    previous = _resumable(out)
    if previous is not None:
        try:
            record = await client.call("GET", f"/v1/transfers/{previous}")
        except NodeError:
            record = None
        if record is not None and record.get("agreementId") == agreement_id and record.get("state") in _LIVE_STATES:
            progress.note(f"continuing transfer {previous}")
            return previous, False
    started = await client.call("POST", "/v1/transfers", {"agreementId": agreement_id, "format": PULL})
    record = await client.call(
        "GET", f"/v1/transfers/{started['id']}?wait=STARTED&timeout={timeout}", timeout=timeout + 10
    )
    if record["state"] == "TERMINATED":
        raise PullRefused(
            "transfer.terminated",
            f"the provider did not start the transfer: {record.get('reason') or 'no reason given'}",
        )
    return started["id"], True


async def _pull(config: Config, agreement_id: str, args: argparse.Namespace) -> PullResult:
    client = ManagementClient(config)
    link = _Link(client)
    progress = NoProgress() if args.quiet else ProgressBar()
    out = args.out.expanduser().absolute()
    if not out.parent.is_dir():
        raise UsageError("cli.no_folder", f"the folder of {out} does not exist", "--out")
    if out.exists() and not args.overwrite:
        raise UsageError("cli.exists", f"{out} already exists (use --overwrite to replace it)", "--out")
    identity = _identity(config)
    transfer_id, replace_foreign = await _transfer_id(link, agreement_id, out, args.timeout, progress)
    puller = Puller(link, identity, out, overwrite=args.overwrite, progress=progress, wait_timeout=args.timeout)
    return await puller.pull(transfer_id, replace_foreign=replace_foreign)


def _report(result: PullResult, as_json: bool) -> int:
    rate = result.received / result.stream_seconds if result.stream_seconds > 0 else 0.0
    if as_json:
        json.dump(
            {
                "transferId": result.transfer_id,
                "file": str(result.path),
                "sha256": result.sha256,
                "size": result.size,
                "resumedFrom": result.resumed_from,
                "received": result.received,
                "streamSeconds": round(result.stream_seconds, 4),
                "seconds": round(result.seconds, 4),
                "bytesPerSecond": round(rate),
                "seal": dict(result.verdict),
                "completed": result.completed,
                "completionError": result.completion_error,
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        print(
            f"saved {result.path} ({human_bytes(result.size)}, sha256 {result.sha256}), sealed by "
            f"{result.verdict.get('issuer')}; received {human_bytes(result.received)} at {human_bytes(rate)}/s"
        )
        if result.completed:
            print(f"transfer {result.transfer_id} COMPLETED")
    if not result.completed:
        print(
            f"connector: error: the data is saved, but the transfer could not be completed: {result.completion_error}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def _refused(exc: ConnectorError) -> int:
    print(f"connector: refused: {exc.reason}", file=sys.stderr)
    return EXIT_FAILED


def cmd_transfer(args: argparse.Namespace) -> int:
    client = client_from(args)
    try:
        result = run(_pull, client.config, args.agreement_id, args)
    except (PullRefused, SealError) as exc:
        return _refused(exc)
    return _report(result, args.json)


async def _negotiate(client: ManagementClient, args: argparse.Namespace) -> str:
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
    neg = await client.call(
        "GET",
        f"/v1/negotiations/{started['id']}?wait=FINALIZED,TERMINATED&timeout={args.timeout}",
        timeout=args.timeout + 10,
    )
    if neg["state"] != "FINALIZED":
        raise PullRefused(
            "negotiation.refused", f"the negotiation ended {neg['state']}: {neg.get('reason') or 'no reason given'}"
        )
    return str(neg["agreementId"])


def cmd_fetch(args: argparse.Namespace) -> int:
    client = client_from(args)

    async def go() -> PullResult:
        agreement_id = await _negotiate(client, args)
        if not args.quiet:
            print(f"agreement {agreement_id}", file=sys.stderr)
        return await _pull(client.config, agreement_id, args)

    try:
        result = run(go)
    except (PullRefused, SealError) as exc:
        return _refused(exc)
    return _report(result, args.json)
