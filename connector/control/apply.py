"""The shell around the steps: each method runs inside one store transaction, loads what a step needs, calls the
step (a pure function, see steps.py) and persists the outcome it returns.

Persisting is one function, `persist`, and always in the same order: undelivered messages dropped, the agreement
row, the step's evidence, the data plane's flow, the queued messages (signed by the signer, logged as sent),
the record, and its history with the evidence of its transition. The ports (evidence sink, signer, data plane)
are called only here, on the store's thread, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.control import negotiations, steps, transfers, waiting
from connector.control.decisions import Decisions, OfferedPolicy, Verdict
from connector.control.events import Peer, Received
from connector.control.facts import NO_FACTS, Admission, Facts
from connector.control.outcome import (
    EvidenceNote,
    HistoryNote,
    Outcome,
    Outgoing,
    Process,
    Reply,
    SignAgreement,
)
from connector.control.pending import PendingStep, StepName
from connector.control.ports import AgreementSigner, DataPlane, EvidenceSink, Tx, no_evidence
from connector.control.steps import (
    NEGOTIATION,
    TRANSFER,
    ProcessKind,
    Script,
    StepContext,
    Waits,
    kind_of,
)
from connector.control.waiting import StateQuery
from connector.dsp.vocabulary import NegotiationMessage, Role, TransferMessage
from connector.ids import new_urn
from connector.records.processes import Negotiation, OutboxEntry, Transfer
from connector.store.sql import definitions as definitions_sql
from connector.store.sql import processes as repo


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ProcessStatus:
    """What a process owes once the transaction that changed it commits."""

    state: str | None  # its state as committed (None: there is no such process)
    step_pending: bool  # a step of ours is pending (the engine runs it, and delivers after)
    next_message: OutboxEntry | None  # the first message still to deliver (not read while a step is pending)
    check_at: datetime | None = None  # while it waits for the peer: when it is next looked at


class StepRunner:
    """Runs the control plane's steps in the caller's transaction, with the ports they may use."""

    def __init__(
        self,
        *,
        participant_id: str,
        callback: Callable[[], str],  # our own DSP base URL, given to peers as callbackAddress (known once bound)
        decisions: Decisions,
        delivery_deadline: float,
        message_spacing: float = 0.0,
        script: Script | None = None,
        evidence: EvidenceSink = no_evidence,
        dataplane: DataPlane | None = None,  # None: a node without a data plane (the plain-HTTP test profile)
        signer: AgreementSigner | None = None,  # None: agreements are not signed (no evidence log)
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[], str] = new_urn,
        http_callbacks: bool = False,  # accept plain-http callback addresses (the loopback test profile only)
        waits: Waits | None = None,  # how long processes wait for their peers (None: without deadlines)
    ) -> None:
        self.participant_id = participant_id
        self.callback = callback
        self.decisions = decisions
        self.delivery_deadline = timedelta(seconds=delivery_deadline)
        # Spacing (conformance profile): a peer that registers for our next message only after it has handled
        # the previous one must not be raced.
        self.message_spacing = timedelta(seconds=message_spacing) if message_spacing > 0 else None
        self.script = script
        self.evidence = evidence
        self.dataplane = dataplane
        self.signer = signer
        self.clock = clock
        self.new_id = new_id
        self.http_callbacks = http_callbacks
        self.waits = waits

    def context(self) -> StepContext:
        return StepContext(
            self.participant_id, self.clock(), self.decisions, self.script, self.new_id, self.http_callbacks, self.waits
        )

    # --- messages from peers --------------------------------------------------------------------------------

    def receive(self, tx: Tx, event: Received) -> tuple[Reply, ProcessStatus | None]:
        """Apply a peer's message; a retried message (same sender, same message `@id`) gets the answer it got the
        first time. With the answer, what the process it was about owes now (None: nothing changed for one)."""
        peer_id = event.peer.participant_id
        message_id = getattr(event.message, "message_id", None)
        if message_id:
            seen = repo.remembered_answer(tx, peer_id, message_id)
            if seen is not None:
                return self._answered_again(tx, event, *seen), None
        reply, record = self._receive(tx, event)
        if message_id:
            repo.remember_response(tx, peer_id, message_id, reply.process_id, reply.status, reply.body, self.clock())
        if reply.process_id is None or record is None:
            return reply, None
        return reply, self._status(tx, record)

    def _answered_again(self, tx: Tx, event: Received, status: int, body: Any, process_id: str | None) -> Reply:
        """A message received before: its first answer, unless the process it was about has moved on since."""
        if not 200 <= status < 300 or process_id is None:
            return Reply(status, body)
        kind = NEGOTIATION if isinstance(event.message.kind, NegotiationMessage) else TRANSFER
        record = self._load(kind, tx, process_id)
        return Reply(status, body) if record is None else steps.answered_again(kind, record, status, body)

    def _receive(self, tx: Tx, event: Received) -> tuple[Reply, Process | None]:
        from connector.dsp.messages import ContractOfferMessage, ContractRequestMessage, TransferRequestMessage

        msg = event.message
        peer_id = event.peer.participant_id
        started: Reply | Outcome
        existing: Process | None  # the process this first message already started (a retry)
        if isinstance(msg, ContractRequestMessage) and msg.is_initial:
            negotiation = None
            if event.path_pid is None:
                negotiation = repo.find_provider_negotiation(tx, peer_id, msg.consumer_pid)
            offer = self._offer_named(tx, msg.offer)
            started, existing = negotiations.initial_request(event, self.context(), negotiation, offer), negotiation
        elif isinstance(msg, ContractOfferMessage) and msg.is_initial:
            negotiation = None
            if event.path_pid is None:
                negotiation = repo.find_consumer_negotiation(tx, peer_id, msg.provider_pid)
            started, existing = negotiations.initial_offer(event, self.context(), negotiation), negotiation
        elif isinstance(msg, TransferRequestMessage):
            transfer = repo.find_provider_transfer(tx, peer_id, msg.consumer_pid)
            agreement = repo.get_agreement(tx, msg.agreement_id) if transfer is None else None
            asset = definitions_sql.get_asset(tx, agreement.dataset_id) if agreement is not None else None
            started = transfers.initial_request(event, self.context(), transfer, agreement, asset)
            existing = transfer
        else:
            return self._receive_about(tx, event)
        if isinstance(started, Reply):  # refused, or acknowledged again
            return started, existing
        assert started.reply is not None
        return started.reply, self.persist(tx, started)

    def _receive_about(self, tx: Tx, event: Received) -> tuple[Reply, Process | None]:
        """A message about a process of ours."""
        from connector.dsp.messages import ContractAgreementMessage

        msg = event.message
        message = msg.kind
        is_negotiation = isinstance(message, NegotiationMessage)
        kind = NEGOTIATION if is_negotiation else TRANSFER
        our_role = negotiations.OUR_ROLE.get(message) if is_negotiation else None
        pid = event.path_pid
        if message == NegotiationMessage.REQUEST:
            pid = pid or msg.provider_pid
        elif message == NegotiationMessage.OFFER:
            pid = pid or msg.consumer_pid
        record = self._load(kind, tx, pid or "")
        allowed = steps.admit(kind, record, event, our_role)
        if isinstance(allowed, Reply):
            return allowed, record
        assert record is not None
        if isinstance(msg, ContractAgreementMessage) and isinstance(record, Negotiation):
            agreement_id = msg.agreement.get("@id")
            named = repo.get_agreement(tx, agreement_id) if isinstance(agreement_id, str) and agreement_id else None
            refused = negotiations.agreement_refused(record, msg, named)
            if refused is not None:
                return refused, record
        self._log(tx, record, steps.receipt(event))
        facts = self._received_facts(tx, record, event)
        if isinstance(record, Negotiation):
            outcome = negotiations.on_received(record, event, allowed, facts, self.context())
        else:
            outcome = transfers.on_received(record, event, allowed, facts, self.context())
        assert outcome.reply is not None
        return outcome.reply, self.persist(tx, outcome)

    def _received_facts(self, tx: Tx, record: Process, event: Received) -> Facts:
        """What the step of a received message needs, read (or, for signatures, checked and logged) after the
        message was logged as received."""
        msg = event.message
        message = msg.kind
        if isinstance(record, Negotiation):
            if message == NegotiationMessage.VERIFICATION and self.signer is not None:
                return Facts(signature_problem=self.signer.check_countersignature(tx, record, msg))
            if message == NegotiationMessage.AGREEMENT and self.signer is not None:
                return Facts(signature_detail=self.signer.receive_agreement(tx, record, dict(msg.agreement), msg))
            if message == NegotiationMessage.TERMINATION:
                return Facts(queued=repo.count_queued(tx, record.id))
            return NO_FACTS
        if message == TransferMessage.START and record.role == Role.PROVIDER:
            return Facts(admission=self._admission(tx, record))
        if message == TransferMessage.COMPLETION and self.dataplane is not None:
            return Facts(flow_detail=self.dataplane.completed_by_peer(tx, record) or {})
        return NO_FACTS

    def view(self, tx: Tx, kind_name: str, pid: str, peer: Peer) -> Reply:
        """A process as its peer may see it."""
        kind = steps.KINDS[kind_name]
        record = self._load(kind, tx, pid)
        if record is None or record.peer_id != peer.participant_id:
            return kind.not_found(pid)
        return kind.ack(record)

    # --- pending steps --------------------------------------------------------------------------------------

    def perform(self, tx: Tx, kind_name: str, pid: str) -> ProcessStatus:
        """Take the step process `pid` owes, if any."""
        kind = steps.KINDS[kind_name]
        record = self._load(kind, tx, pid)
        if record is None:
            return ProcessStatus(None, False, repo.next_outbox(tx, pid))
        if record.pending is None or record.is_terminal:
            return self._status(tx, record)
        ctx = self.context()
        facts = self._step_facts(tx, record)
        if isinstance(record, Negotiation):
            outcome = negotiations.perform(record, facts, ctx)
        else:
            outcome = transfers.perform(record, facts, ctx)
        return self._status(tx, self.persist(tx, outcome))

    def _step_facts(self, tx: Tx, record: Process) -> Facts:
        step = PendingStep.decode(record.pending or "")
        name = step.name if step is not None else None
        if isinstance(record, Negotiation):
            if name in (StepName.DECIDE, StepName.AGREE, StepName.OFFER):
                return Facts(offered=self._offered(tx, record.dataset_id))
            if name == StepName.VERIFY:
                agreement = repo.get_agreement(tx, record.agreement_id or "")
                problem = None
                if agreement is not None and self.signer is not None:
                    problem = self.signer.check_agreement(tx, record, agreement)
                return Facts(agreement=agreement, signature_problem=problem)
        elif name == StepName.START:
            return Facts(admission=self._admission(tx, record))
        return NO_FACTS

    # --- commands from our own users ------------------------------------------------------------------------

    def start_negotiation(
        self,
        tx: Tx,
        provider_id: str,
        provider_address: str,
        offer: Mapping[str, Any],
        dataset_id: str,
        purpose: str | None = None,
    ) -> tuple[Negotiation, ProcessStatus]:
        """Consumer: ask a provider for a contract on `offer` (which must name its target dataset)."""
        outcome = negotiations.start(
            self.context(), provider_id, provider_address, offer, dataset_id, purpose, self.callback()
        )
        record = self.persist(tx, outcome)
        assert isinstance(record, Negotiation)
        return record, self._status(tx, record)

    def start_transfer(
        self,
        tx: Tx,
        agreement_id: str,
        format: str,
        destination: Mapping[str, Any] | None = None,
        provider_id: str | None = None,
        provider_address: str | None = None,
    ) -> tuple[Transfer, ProcessStatus]:
        """Consumer: request a transfer under one of our agreements (or, for conformance tests, a given provider)."""
        ctx = self.context()
        agreement = repo.get_agreement(tx, agreement_id)
        provider_id, provider_address = transfers.provider_of(
            agreement, agreement_id, ctx, provider_id, provider_address
        )
        pid = ctx.new_id()
        if format.endswith("-PUSH") and not destination and self.dataplane is not None:
            # Our own data listener receives the push, with a token the data plane issues for this transfer.
            destination = self.dataplane.push_destination(tx, pid, agreement_id)
        outcome = transfers.start(
            ctx, pid, agreement_id, format, destination, provider_id, provider_address, self.callback()
        )
        record = self.persist(tx, outcome)
        assert isinstance(record, Transfer)
        return record, self._status(tx, record)

    def command(
        self, tx: Tx, kind_name: str, pid: str, action: str, reason: str | None = None
    ) -> tuple[Process, ProcessStatus]:
        """A user's decision on a process (terminate, accept, suspend, resume, complete): the process as stored
        after it."""
        kind = steps.KINDS[kind_name]
        ctx = self.context()
        if kind is NEGOTIATION:
            outcome = negotiations.command(repo.get_negotiation(tx, pid), pid, action, reason, NO_FACTS, ctx)
        else:
            transfer = repo.get_transfer(tx, pid)
            facts = NO_FACTS
            if transfer is not None and not transfer.is_terminal:
                if action == "complete" and self.dataplane is not None:
                    self.dataplane.before_complete(tx, transfer)  # a consumer completes once the data's seal verified
                if action == "resume" and transfer.role == Role.PROVIDER:
                    facts = Facts(admission=self._admission(tx, transfer))
            outcome = transfers.command(transfer, pid, action, reason, facts, ctx)
        self.persist(tx, outcome)
        current = self._load(kind, tx, pid)  # as stored, which is what the management API shows
        assert current is not None
        return current, self._status(tx, current)

    # --- deliveries -----------------------------------------------------------------------------------------

    def delivered(self, tx: Tx, entry: OutboxEntry, response: Any) -> ProcessStatus:
        """Our message reached the peer. `step_pending`: the delivery made a step of ours pending."""
        kind = steps.KINDS[entry.process_kind]
        record = self._load(kind, tx, entry.process_id)
        repo.outbox_done(tx, entry.id)
        if record is None:
            return ProcessStatus(None, False, repo.next_outbox(tx, entry.process_id))
        facts = NO_FACTS
        if self.script is not None:
            cause = f"delivered {entry.message_type}"
            facts = Facts(delivered_before=sum(1 for h in repo.history(tx, record.id) if h.cause == cause))
        after = self.persist(tx, steps.delivered(record, entry.message_type, response, facts, self.context()))
        more = after.pending is not None and after.pending != record.pending and not after.is_terminal
        return ProcessStatus(str(after.state), more, repo.next_outbox(tx, entry.process_id), after.check_at)

    def delivery_failed(self, tx: Tx, entry: OutboxEntry, reason: str) -> None:
        """The message cannot be delivered: the process ends with `reason` (unless it had ended already)."""
        kind = steps.KINDS[entry.process_kind]
        record = self._load(kind, tx, entry.process_id)
        repo.outbox_drop_process(tx, entry.process_id)
        if record is None or record.is_terminal:
            return
        self.persist(tx, steps.delivery_failed(record, reason, self.context()))

    # --- processes waiting for their peers ------------------------------------------------------------------

    def check_due(self, tx: Tx, kind_name: str, pid: str) -> tuple[StateQuery | None, ProcessStatus | None]:
        """The process's check time has come: give up at its deadline, or say which state query to send (its next
        check is moved on first, so that a query that never comes back is simply sent again later)."""
        kind = steps.KINDS[kind_name]
        record = self._load(kind, tx, pid)
        queued = repo.count_queued(tx, pid) if record is not None else 0
        outcome, query = waiting.when_due(record, queued, self.context())
        if outcome is None:
            return query, None
        return query, self._status(tx, self.persist(tx, outcome))

    def follow_peer(self, tx: Tx, kind_name: str, pid: str, status: int, body: Any) -> ProcessStatus | None:
        """The peer answered our state query with `status` and `body`: follow it where it says the process ended."""
        kind = steps.KINDS[kind_name]
        outcome = waiting.followed(self._load(kind, tx, pid), status, body, self.context())
        return None if outcome is None else self._status(tx, self.persist(tx, outcome))

    # --- the data plane's port ------------------------------------------------------------------------------

    def admission(self, tx: Tx, transfer: Transfer) -> Verdict:
        """Does the agreement permit this (started) transfer's data to flow now? The decision is logged."""
        verdict, decided = transfers.admission(transfer, self._admission(tx, transfer), self.context())
        if decided is not None:
            self._log(tx, transfer, decided)
        return verdict

    def note(
        self, tx: Tx, process: Process, cause: str, why: str | None = None, detail: Mapping[str, Any] | None = None
    ) -> None:
        """A history entry without a state change."""
        state = str(process.state)
        self.persist(tx, Outcome(process, self.clock(), history=(HistoryNote(cause, state, state, why, detail),)))

    # --- persisting -----------------------------------------------------------------------------------------

    def persist(self, tx: Tx, outcome: Outcome) -> Process:
        """Write `outcome` in the transaction `tx`; returns the process as stored."""
        record = outcome.record
        kind = kind_of(record)
        if outcome.drop_queued:
            repo.outbox_drop_process(tx, record.id)
        if outcome.agreement is not None:
            repo.save_agreement(tx, outcome.agreement)
        if outcome.finalizes_agreement and record.agreement_id:
            repo.finalize_agreement(tx, record.agreement_id)
        for note in outcome.evidence:
            self._log(tx, record, note)
        if outcome.flow is not None and self.dataplane is not None:
            assert isinstance(record, Transfer)
            flow = self.dataplane.start(tx, record) if outcome.flow.first else self.dataplane.resume(tx, record)
            if flow:
                outcome = outcome.with_data_address(flow)
                record = outcome.record
        for message in outcome.messages:
            self._queue(tx, kind, record, message, outcome.at)
        if outcome.changed:
            if isinstance(record, Negotiation):
                repo.save_negotiation(tx, record)
            else:
                repo.save_transfer(tx, record)
        for entry in outcome.history:
            repo.append_history(
                tx,
                kind.name,
                record.id,
                outcome.at,
                entry.from_state,
                entry.to_state,
                entry.cause,
                entry.why,
                entry.detail,
            )
            if entry.changes_state:
                self.evidence(
                    tx,
                    "state.changed",
                    process_id=record.id,
                    peer=record.peer_id,
                    data={
                        "kind": kind.name,
                        "from": entry.from_state,
                        "to": entry.to_state,
                        "cause": entry.cause,
                        "reason": entry.why,
                    },
                )
        if outcome.changed and isinstance(record, Transfer) and self.dataplane is not None:
            self.dataplane.after_change(record)
        return record

    def _queue(self, tx: Tx, kind: ProcessKind, record: Process, message: Outgoing, at: datetime) -> None:
        body = message.body
        if message.signing is not None and self.signer is not None:
            assert isinstance(record, Negotiation)
            if isinstance(message.signing, SignAgreement):
                body = self.signer.sign_agreement(tx, record, message.signing.agreement, body)
            else:
                body = self.signer.countersign(tx, record, message.signing.agreement, body)
        not_before = at + self.message_spacing if self.message_spacing is not None else None
        repo.enqueue(
            tx,
            kind.name,
            record.id,
            record.peer_id,
            message.url,
            message.message_type,
            body,
            at,
            at + self.delivery_deadline,
            not_before,
        )
        self.evidence(
            tx,
            "dsp.sent",
            process_id=record.id,
            peer=record.peer_id,
            subject=body,
            data={"type": body.get("@type"), "url": message.url},
        )

    def _log(self, tx: Tx, record: Process, note: EvidenceNote) -> None:
        self.evidence(tx, note.kind, process_id=record.id, peer=record.peer_id, subject=note.subject, data=note.data)

    # --- loading --------------------------------------------------------------------------------------------

    @staticmethod
    def _load(kind: ProcessKind, tx: Tx, pid: str) -> Process | None:
        return repo.get_negotiation(tx, pid) if kind is NEGOTIATION else repo.get_transfer(tx, pid)

    @staticmethod
    def _status(tx: Tx, record: Process) -> ProcessStatus:
        step_pending = record.pending is not None and not record.is_terminal
        next_message = None if step_pending else repo.next_outbox(tx, record.id)
        return ProcessStatus(str(record.state), step_pending, next_message, record.check_at)

    @staticmethod
    def _offered(tx: Tx, dataset_id: str | None) -> tuple[OfferedPolicy, ...]:
        """The offers of a dataset, with their contract policies, as we make them now."""
        if not dataset_id:
            return ()
        out = []
        for offer in definitions_sql.offers_for_asset(tx, dataset_id):
            policy = definitions_sql.get_policy(tx, offer.contract_policy_id)
            if policy is not None:
                out.append(OfferedPolicy(offer.id, offer.asset_id, policy.policy))
        return tuple(out)

    @staticmethod
    def _offer_named(tx: Tx, offer: Mapping[str, Any]) -> Any:
        """Our offer a request names, when the request does not name its dataset (target) itself."""
        target = offer.get("target")
        offer_id = offer.get("@id")
        if isinstance(target, str) and target or not isinstance(offer_id, str):
            return None
        return definitions_sql.get_offer(tx, offer_id)

    @staticmethod
    def _admission(tx: Tx, transfer: Transfer) -> Admission:
        agreement = repo.get_agreement(tx, transfer.agreement_id)
        if agreement is None:
            return Admission(None)
        started = repo.count_transfers_started(tx, agreement.id, "provider")
        return Admission(agreement, started, repo.negotiation_purpose(tx, agreement.negotiation_id))
