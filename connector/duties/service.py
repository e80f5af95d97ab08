"""The node's duty service: data received recorded, deletions carried out when due, receipts signed, sent,
accepted and fetched, and what may not be offered onward refused.

Background work, both event-driven: the deletion step waits for the earliest deletion owed (read from the store,
so that it survives restarts; a new one wakes it), and the sender delivers the receipts the provider has not
acknowledged yet (woken when one is issued, retried with back-off while the provider cannot be reached, resumed
after a restart). Every change is one transaction: the record, its receipts (signed with the node's signing
key), the transfer's history and the evidence (``duty.*`` records about the transfer) commit together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cryptography import x509

from connector.dsp.vocabulary import Role
from connector.duties import files, steps
from connector.duties.provenance import overlapping, refusal, source_path
from connector.errors import ConnectorError
from connector.evidence.errors import EvidenceError
from connector.evidence.recorder import EvidenceSink, no_evidence
from connector.evidence.rfc3339 import format_utc
from connector.evidence.signer import SigningIdentity
from connector.records.definitions import Asset
from connector.records.duties import ISSUED, RECEIVED, DutyReceipt, ReceivedData
from connector.records.processes import Agreement, Transfer
from connector.store.errors import StoreError
from connector.store.interface import Store, Tx
from connector.store.sql import duties as sql
from connector.store.sql import flows
from connector.store.sql import processes as repo
from connector.tasks import Tasks
from connector.web.peer_client import PeerClient, PeerUnavailable

if TYPE_CHECKING:  # receipts: with the first duty carried out or receipt received
    from connector.evidence.receipts import ReceiptClaims

log = logging.getLogger("connector.duties")

NO_ONWARD_TRANSFER = "duty.no_onward_transfer"
RECEIPTS_PATH = "/duties/receipts"  # below the provider's DSP base URL: where a consumer sends receipts
MAX_SLEEP = 3600.0  # the deletion step re-reads the store at least this often (a clock set forward is noticed)
RETRY_AFTER_FAILURE = 60.0  # a deletion that failed (a file that cannot be removed) is tried again after this
AHEAD = timedelta(seconds=1)  # deletions are made this much before they are due, so that they are in time


def _utcnow() -> datetime:
    return datetime.now(UTC)


def agreement_receipts_path(agreement_id: str) -> str:
    """Below the consumer's DSP base URL: where its provider asks for the receipts of an agreement."""
    return f"/duties/agreements/{quote(agreement_id, safe='')}/receipts"


def _deletion_wait(due: datetime | None, now: datetime, attempted: bool) -> float:
    """Seconds the deletion step waits before it looks again: until the next deletion is due; a while when one was
    due but none could be made (the failed ones are tried again later); not at all when the time came meanwhile
    (a timer that fired a moment early: the next look makes the deletion)."""
    if due is None:
        return MAX_SLEEP
    if attempted:
        return RETRY_AFTER_FAILURE
    return min(max((due - now).total_seconds(), 0.0), MAX_SLEEP)


class DutyService:
    def __init__(
        self,
        *,
        store: Store,
        participant_id: str,
        tasks: Tasks,
        peers: PeerClient,
        anchors: Callable[[], Sequence[x509.Certificate]],
        roots: Mapping[str, Path],
        identity: SigningIdentity | None = None,  # None: no receipts are signed (no signing identity)
        evidence: EvidenceSink = no_evidence,
        retry_initial: float = 0.5,
        retry_max: float = 300.0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.store = store
        self.participant_id = participant_id
        self.tasks = tasks
        self.peers = peers
        self.anchors = anchors
        self.roots = dict(roots)
        self.identity = identity
        self.evidence = evidence
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.clock = clock
        self._changed: list[Callable[[], None]] = []
        self._deletions_due = asyncio.Event()
        self._receipts_issued = asyncio.Event()
        self._failing: dict[str, datetime] = {}  # transfer id -> when its failed deletion is tried again

    def on_change(self, hook: Callable[[], None]) -> None:
        """Call `hook` when data received under "no onward transfer" comes or goes (the catalogue is rebuilt)."""
        self._changed.append(hook)

    def _notify_changed(self) -> None:
        for hook in self._changed:
            hook()

    def run(self) -> None:
        """Start the deletion step and the receipts' sender (once the node is reachable)."""
        self._deletions_due.set()
        self._receipts_issued.set()
        self.tasks.spawn(self._deletions(), "duty-deletions")
        self.tasks.spawn(self._sender(), "duty-receipts")

    # --- persisting an outcome (store thread) -------------------------------------------------------------

    def _persist(self, tx: Tx, transfer: Transfer, outcome: steps.DutyOutcome, now: datetime) -> list[DutyReceipt]:
        from connector.evidence.receipts import make_receipt, receipt_sha256

        received = outcome.received
        sql.save_received(tx, received)
        issued = []
        for claims in outcome.receipts:
            if self.identity is None:
                continue
            jws = make_receipt(self.identity, claims)
            receipt = DutyReceipt(
                receipt_sha256(jws), received.agreement_id, transfer.id, ISSUED, claims.duty, claims.at, jws, now
            )
            sql.add_receipt(tx, receipt)
            self.evidence(
                tx,
                steps.FULFILLED,
                process_id=transfer.id,
                peer=transfer.peer_id,
                subject={"receipt": jws},
                data={**_receipt_data(claims), "receipt_sha256": receipt.sha256},
            )
            issued.append(receipt)
        for logged in outcome.evidence:
            self.evidence(tx, logged.kind, process_id=transfer.id, peer=transfer.peer_id, data=logged.data)
        state = str(transfer.state)
        for note in outcome.notes:
            repo.append_history(tx, "transfer", transfer.id, now, state, state, note.cause, note.why, note.detail)
        return issued

    # --- consumer: data received --------------------------------------------------------------------------

    def _consumed(self, tx: Tx, transfer_id: str) -> tuple[Transfer, Agreement]:
        transfer = repo.get_transfer(tx, transfer_id)
        if transfer is None or transfer.role != Role.CONSUMER:
            raise ConnectorError("transfer.not_found", f"no transfer '{transfer_id}' in which this node consumes")
        agreement = repo.get_agreement(tx, transfer.agreement_id)
        if agreement is None:
            raise ConnectorError("agreement.not_found", f"the agreement of transfer '{transfer_id}' is not known")
        return transfer, agreement

    async def before_complete(self, transfer_id: str, file: str | None) -> None:
        """A consumer's transfer is about to be reported complete, its data written to `file`: the data is
        recorded as received first (its duties scheduled), so that a completion cannot leave them behind. An
        agreement that obliges deleting the data needs to know where it went."""

        def load(tx: Tx) -> tuple[Transfer | None, Agreement | None, bool, bool]:
            transfer = repo.get_transfer(tx, transfer_id)
            if transfer is None or transfer.role != Role.CONSUMER:
                return transfer, None, False, False
            flow = flows.get_flow(tx, transfer_id)
            sealed = flow is not None and flow.seal_verified_at is not None
            known = sql.get_received(tx, transfer_id) is not None
            return transfer, repo.get_agreement(tx, transfer.agreement_id), sealed, known

        transfer, agreement, sealed, known = await self.store.read(load)
        if transfer is None or transfer.role != Role.CONSUMER:
            if file is not None:
                raise ConnectorError("request.invalid", "only a consumer says where the data it received went", "file")
            return
        if known or not sealed or agreement is None:
            return  # recorded already, or the completion is refused for its own reason (no verified seal)
        duties, agreed_at = steps.duties_of(agreement)
        if file is None and duties.delete:
            due = duties.delete_due(agreed_at)
            raise ConnectorError(
                "duty.file_required",
                f"agreement {agreement.id} obliges deleting the data received by {format_utc(due) if due else '?'}: "
                "say where it was written ('file'), so that this node can delete it",
                "file",
            )
        if file is not None or duties.any:
            await self.received(transfer_id, file)

    async def received(self, transfer_id: str, file: str | None) -> ReceivedData:
        """Record the data of a consumer's transfer, its seal verified, as received into `file` (a pull
        reported by the command line, or a push written by the data plane). Recording it again changes
        nothing."""
        resolved = os.path.realpath(file) if file else None
        loop = asyncio.get_running_loop()
        stamp = await loop.run_in_executor(None, files.stamp_of, resolved) if resolved else None
        if resolved is not None and stamp is None:
            raise ConnectorError("duty.no_file", f"{file} is not a file this node can see", "file")

        def record(tx: Tx) -> tuple[ReceivedData, list[DutyReceipt]]:
            transfer, agreement = self._consumed(tx, transfer_id)
            known = sql.get_received(tx, transfer_id)
            if known is not None:
                return known, []
            flow = flows.get_flow(tx, transfer_id)
            if flow is None or flow.seal_verified_at is None or flow.sha256 is None or flow.size is None:
                raise ConnectorError(
                    "transfer.invalid_state", "the provider's seal of the data has not been verified yet", None
                )
            if stamp is not None and int(stamp.split(":", 1)[0]) != flow.size:
                raise ConnectorError(
                    "duty.not_the_data", f"{file} does not hold the {flow.size} bytes received and sealed", "file"
                )
            now = self.clock()
            outcome = steps.on_received(
                transfer, agreement, flow.sha256, flow.size, resolved, stamp, self.participant_id, now
            )
            return outcome.received, self._persist(tx, transfer, outcome, now)

        received, issued = await self.store.run(record)
        if received.delete_due_at is not None:
            self._deletions_due.set()
        if issued:
            self._receipts_issued.set()
        if received.no_onward_transfer:
            self._notify_changed()
        return received

    # --- consumer: deletions due ----------------------------------------------------------------------------

    async def _deletions(self) -> None:
        while True:
            self._deletions_due.clear()
            attempted = False
            try:
                due = await self.store.read(sql.next_deletion)
                if due is not None:
                    due -= AHEAD
                if due is not None and due <= self.clock():
                    attempted = True
                    if await self.delete_due() > 0:
                        continue
            except (ConnectorError, StoreError) as exc:
                log.error("deletions not carried out: %s", exc)
                due = None
            wait = _deletion_wait(due, self.clock(), attempted)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._deletions_due.wait(), wait)

    async def delete_due(self) -> int:
        """Carry out every deletion due now (or within AHEAD); how many were made."""
        now = self.clock()
        done = 0
        loop = asyncio.get_running_loop()
        for row in await self.store.read(sql.deletions_due, now + AHEAD):
            retry = self._failing.get(row.transfer_id)
            if retry is not None and retry > now:
                continue
            try:
                outcome = await loop.run_in_executor(None, files.remove, row.file, row.file_stamp, row.sha256, row.size)
            except OSError as exc:
                self._failing[row.transfer_id] = now + timedelta(seconds=RETRY_AFTER_FAILURE)
                log.error(
                    "the data received could not be deleted: %s",
                    exc,
                    extra={"transfer": row.transfer_id, "file": row.file},
                )
                continue
            self._failing.pop(row.transfer_id, None)
            await self.store.run(self._deleted, row.transfer_id, outcome)
            log.info(
                "received data deleted as its agreement obliges",
                extra={"transfer": row.transfer_id, "file": row.file, "outcome": outcome},
            )
            done += 1
        if done:
            self._receipts_issued.set()
            self._notify_changed()
        return done

    def _deleted(self, tx: Tx, transfer_id: str, outcome: str) -> None:
        row = sql.get_received(tx, transfer_id)
        if row is None or row.deleted_at is not None:
            return
        transfer, _ = self._consumed(tx, transfer_id)
        now = self.clock()
        self._persist(tx, transfer, steps.deletion(row, transfer, outcome, self.participant_id, now), now)

    # --- consumer: sending receipts to the provider ---------------------------------------------------------

    async def _sender(self) -> None:
        delay = self.retry_initial
        while True:
            self._receipts_issued.clear()
            try:
                pending = await self.store.read(sql.undelivered)
                finished = [await self._send(receipt) for receipt in pending]
            except (ConnectorError, StoreError) as exc:
                log.error("receipts not sent: %s", exc)
                pending, finished = [], [False]
            if pending and all(finished):
                delay = self.retry_initial
                continue  # there may be another batch
            retry = not all(finished)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._receipts_issued.wait(), delay if retry else None)
            if retry:
                delay = min(delay * 2, self.retry_max)

    async def _send(self, receipt: DutyReceipt) -> bool:
        """Send one receipt to the provider: True when that is over (acknowledged, or refused for good)."""
        transfer = await self.store.read(repo.get_transfer, receipt.transfer_id)
        if transfer is None:
            await self.store.run(sql.mark_delivered, receipt.sha256, self.clock(), "refused: the transfer is gone")
            return True
        url = transfer.peer_address.rstrip("/") + RECEIPTS_PATH
        try:
            response = await self.peers.post(url, {"receipt": receipt.jws}, expected_peer=transfer.peer_id)
        except PeerUnavailable as exc:
            log.info("receipt not delivered yet: %s", exc.reason, extra={"transfer": transfer.id})
            return False
        except ConnectorError as exc:
            await self.store.run(self._sent, receipt, transfer, f"refused: {exc.reason}")
            return True
        outcome = "delivered" if response.ok else f"refused ({response.status}): {response.error_reason()}"
        await self.store.run(self._sent, receipt, transfer, outcome)
        return True

    def _sent(self, tx: Tx, receipt: DutyReceipt, transfer: Transfer, outcome: str) -> None:
        now = self.clock()
        sql.mark_delivered(tx, receipt.sha256, now, outcome)
        data = {"receipt_sha256": receipt.sha256, "duty": receipt.duty, "delivery": outcome}
        self.evidence(tx, steps.DELIVERED, process_id=transfer.id, peer=transfer.peer_id, data=data)
        state = str(transfer.state)
        cause = f"receipt {'sent' if outcome == 'delivered' else 'not taken'}: {receipt.duty}"
        repo.append_history(tx, "transfer", transfer.id, now, state, state, cause, outcome, None)

    # --- consumer: the receipts its provider asks for --------------------------------------------------------

    async def issued_for(self, caller: str, agreement_id: str) -> list[str]:
        """The receipts this node issued under one of its agreements as consumer, for the agreement's provider."""

        def read(tx: Tx) -> list[str] | None:
            agreement = repo.get_agreement(tx, agreement_id)
            if agreement is None or agreement.consumer_id != self.participant_id or agreement.provider_id != caller:
                return None
            return [r.jws for r in sql.receipts_of(tx, agreement_id, ISSUED)]

        found = await self.store.read(read)
        if found is None:
            raise ConnectorError("agreement.not_found", f"no agreement '{agreement_id}' with this participant")
        return found

    # --- provider: receipts sent or fetched ----------------------------------------------------------------

    async def accept(self, caller: str, jws: Any) -> bool:
        """A receipt from the consumer `caller`: verified (signature, the consumer's certificate, about one of
        our agreements with it and one of our transfers under it, about the data we sealed) and recorded;
        True when it was new."""
        from connector.evidence.receipts import receipt_sha256, verify_receipt

        now = self.clock()
        if not isinstance(jws, str) or not jws:
            raise ConnectorError("duty.receipt_invalid", "'receipt' must be a receipt (a compact JWS)", "receipt")
        try:
            claims = verify_receipt(jws, self.anchors(), now).claims
        except EvidenceError as exc:
            raise ConnectorError(
                "duty.receipt_invalid", f"the receipt does not verify: {exc.reason}", exc.where
            ) from None
        if claims.consumer != caller:
            raise ConnectorError("duty.receipt_invalid", f"the receipt is by {claims.consumer}, not by {caller}")
        if claims.provider != self.participant_id:
            raise ConnectorError("duty.receipt_invalid", f"the receipt is for {claims.provider}, not for this node")

        def keep(tx: Tx) -> bool:
            agreement = repo.get_agreement(tx, claims.agreement_id)
            if agreement is None or agreement.provider_id != self.participant_id or agreement.consumer_id != caller:
                raise ConnectorError("duty.receipt_invalid", f"no agreement '{claims.agreement_id}' with {caller}")
            transfer = repo.get_transfer(tx, claims.provider_pid)
            if (
                transfer is None
                or transfer.role != Role.PROVIDER
                or transfer.agreement_id != agreement.id
                or transfer.consumer_pid != claims.consumer_pid
            ):
                raise ConnectorError(
                    "duty.receipt_invalid", f"no transfer '{claims.provider_pid}' of {caller} under {agreement.id}"
                )
            flow = flows.get_flow(tx, transfer.id)
            if flow is not None and flow.sha256 is not None and flow.sha256 != claims.sha256:
                raise ConnectorError(
                    "duty.receipt_invalid",
                    f"the receipt is about data with SHA-256 {claims.sha256}, not the data this node sealed "
                    f"({flow.sha256})",
                )
            receipt = DutyReceipt(
                receipt_sha256(jws), agreement.id, transfer.id, RECEIVED, claims.duty, claims.at, jws, now
            )
            if not sql.add_receipt(tx, receipt):
                return False
            self.evidence(
                tx,
                steps.RECEIPT,
                process_id=transfer.id,
                peer=caller,
                subject={"receipt": jws},
                data={**_receipt_data(claims), "receipt_sha256": receipt.sha256},
            )
            state = str(transfer.state)
            repo.append_history(
                tx, "transfer", transfer.id, now, state, state, f"receipt received: {claims.duty}", claims.describe()
            )
            return True

        return await self.store.run(keep)

    async def fetch(self, agreement_id: str) -> dict[str, Any]:
        """Provider: ask the consumer for every receipt of the agreement; record those that verify and are new."""

        def read(tx: Tx) -> tuple[Agreement | None, str | None]:
            agreement = repo.get_agreement(tx, agreement_id)
            if agreement is None:
                return None, None
            negotiation = repo.get_negotiation(tx, agreement.negotiation_id)
            return agreement, negotiation.peer_address if negotiation is not None else None

        agreement, address = await self.store.read(read)
        if agreement is None or agreement.provider_id != self.participant_id or address is None:
            raise ConnectorError("agreement.not_found", f"no agreement '{agreement_id}' in which this node provides")
        url = address.rstrip("/") + agreement_receipts_path(agreement_id)
        try:
            response = await self.peers.get(url, expected_peer=agreement.consumer_id)
        except PeerUnavailable as exc:
            raise ConnectorError("peer.unreachable", f"the consumer cannot be asked now: {exc.reason}") from None
        found = response.body.get("receipts") if response.ok and isinstance(response.body, dict) else None
        if not isinstance(found, list):
            raise ConnectorError(
                "duty.peer_error",
                f"{agreement.consumer_id} gave no receipts ({response.status}): {response.error_reason()}",
            )
        new, refused = 0, []
        for jws in found:
            try:
                new += await self.accept(agreement.consumer_id, jws)
            except ConnectorError as exc:
                refused.append(exc.reason)
        return {"asked": agreement.consumer_id, "received": len(found), "new": new, "refused": refused}

    # --- no onward transfer -----------------------------------------------------------------------------------

    async def vet_asset(self, asset: Asset) -> None:
        """Refuse an asset that would offer data received under an agreement prohibiting its distribution: by
        location (the file, or a folder holding it) and by content (a copy of it)."""
        path = source_path(asset.source, self.roots)
        if path is None:
            return
        kept = await self.store.read(sql.kept_without_onward_transfer)
        if not kept:
            return
        found = overlapping(path, kept)
        if found is not None:
            how = "the" if found.file == str(path) else "a folder holding"
            raise ConnectorError(NO_ONWARD_TRANSFER, refusal(asset.id, found, how), "source")
        stamp = files.stamp_of(path)
        if stamp is None:
            return
        size = int(stamp.split(":", 1)[0])
        same_size = [r for r in kept if r.size == size]
        if not same_size:
            return
        digest = await asyncio.get_running_loop().run_in_executor(None, files.sha256_of, path)
        for received in same_size:
            if received.sha256 == digest:
                raise ConnectorError(NO_ONWARD_TRANSFER, refusal(asset.id, received, "a copy of"), "source")

    async def withheld(self, assets: Sequence[Asset]) -> dict[str, str]:
        """The assets (by id) that must not be offered, each with why (by location: cheap enough for every
        rebuild of the catalogue)."""
        kept = await self.store.read(sql.kept_without_onward_transfer)
        if not kept:
            return {}
        out: dict[str, str] = {}
        for asset in assets:
            path = source_path(asset.source, self.roots)
            found = overlapping(path, kept) if path is not None else None
            if found is not None:
                how = "the" if found.file == str(path) else "a folder holding"
                out[asset.id] = refusal(asset.id, found, how)
        return out

    async def withheld_source(self, source: Mapping[str, Any]) -> str | None:
        """Why the data plane may not serve `source` (it reads data received under no onward transfer), or None."""
        path = source_path(source, self.roots)
        if path is None:
            return None
        kept = await self.store.read(sql.kept_without_onward_transfer)
        found = overlapping(path, kept) if kept else None
        if found is None:
            return None
        return (
            f"this dataset reads data received under agreement {found.agreement_id} from {found.provider_id}, "
            "whose agreement prohibits distributing it (no onward transfer)"
        )

    # --- views ------------------------------------------------------------------------------------------------

    async def agreement_view(self, agreement_id: str) -> dict[str, Any]:
        """An agreement's usage duties and what this node knows of their fulfilment."""

        def read(tx: Tx) -> tuple[Agreement | None, list[ReceivedData], list[DutyReceipt]]:
            agreement = repo.get_agreement(tx, agreement_id)
            if agreement is None:
                return None, [], []
            received, _ = sql.list_received(tx, 500, 0, agreement_id)
            return agreement, received, sql.receipts_of(tx, agreement_id)

        agreement, received, receipts = await self.store.read(read)
        if agreement is None:
            raise ConnectorError("agreement.not_found", f"no agreement '{agreement_id}'")
        duties, agreed_at = steps.duties_of(agreement)
        role = "provider" if agreement.provider_id == self.participant_id else "consumer"
        return {
            "agreementId": agreement.id,
            "role": role,
            "duties": {**duties.to_json(agreed_at), "owed": duties.describe()},
            "received": [r.to_api() for r in received],
            "receipts": [_receipt_view(r) for r in receipts],
        }


def _receipt_data(claims: ReceiptClaims) -> dict[str, Any]:
    return {
        "agreement": claims.agreement_id,
        "duty": claims.duty,
        "outcome": claims.outcome,
        "at": format_utc(claims.at),
        "due": format_utc(claims.due) if claims.due is not None else None,
        "sha256": claims.sha256,
    }


def _receipt_view(receipt: DutyReceipt) -> dict[str, Any]:
    from connector.evidence.receipts import read_claims

    claims = read_claims(receipt.jws)
    return {
        "sha256": receipt.sha256,
        "direction": receipt.direction,
        "transferId": receipt.transfer_id,
        "duty": claims.duty,
        "outcome": claims.outcome,
        "at": format_utc(claims.at),
        "due": format_utc(claims.due) if claims.due is not None else None,
        "late": claims.late,
        "statement": claims.describe(),
        "delivery": receipt.delivery,
        "jws": receipt.jws,
    }
