"""What negotiation and transfer steps share: their context, the two kinds of process, and the draft a step fills.

A step is a pure function: given the process as loaded, the event, the facts the shell read for it and a
`StepContext` (the clock's reading, ids, decisions), it returns an `Outcome` and writes nothing. Inside, it
fills a `Draft`: `transition` changes the state (and says why), `send` queues what the state machine allows us
to send and takes that transition, `terminate` ends the process and tells the peer. The shell persists the
outcome in one transaction, so the new state is committed before the peer can possibly react to it.

The moves both kinds make alike are here: accepting a message about a process (`admit`), starting a process as
the peer or as the consumer, performing the pending step, and the outcome of a delivery.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from connector.control.decisions import Decisions
from connector.control.events import Received
from connector.control.facts import Facts
from connector.control.outcome import (
    Countersign,
    EvidenceNote,
    HistoryNote,
    OpenFlow,
    Outcome,
    Outgoing,
    Process,
    Reply,
    SignAgreement,
)
from connector.control.pending import PendingStep, StepName, encoded
from connector.dsp import negotiation_machine, transfer_machine
from connector.dsp.process_machine import ProcessMachine, Transition, TransitionRefusal
from connector.dsp.vocabulary import NegotiationMessage, NegotiationState, Role, TransferMessage, TransferState
from connector.errors import ConnectorError, Problem
from connector.ids import new_urn
from connector.records.processes import Agreement, Negotiation

if TYPE_CHECKING:
    from connector.dsp.messages import (
        ContractNegotiation,
        ContractNegotiationError,
        ContractNegotiationTerminationMessage,
        TransferError,
        TransferProcess,
        TransferTerminationMessage,
    )

Message = NegotiationMessage | TransferMessage
P = TypeVar("P", bound=Process)


class Script(Protocol):
    """Overrides of the default next step (used by the conformance-test profile); `...`: no override."""

    def on_received(self, process: Process, message: str) -> PendingStep | None | EllipsisType: ...

    def after_delivered(self, process: Process, message_type: str, delivered_before: int) -> PendingStep | None: ...


@dataclass(frozen=True)
class Waits:
    """How long a process waits for its peer: the deadline when it gives up (and tells the peer), and after how
    long (then again at that interval) it asks the peer for the process's state; None: it never asks."""

    deadline: timedelta
    query_after: timedelta | None = None

    def times(self, now: datetime) -> tuple[datetime, datetime]:
        """(deadline_at, check_at) for a process that starts waiting at `now`."""
        deadline = now + self.deadline
        return deadline, deadline if self.query_after is None else min(deadline, now + self.query_after)


@dataclass(frozen=True)
class StepContext:
    """What a step may use besides its process, the event and the facts: made by the shell for each step."""

    participant_id: str
    now: datetime
    decisions: Decisions
    script: Script | None = None
    new_id: Callable[[], str] = new_urn  # a new process, agreement or message id
    http_callbacks: bool = False  # peers may give plain-http callback addresses (the loopback test profile only)
    waits: Waits | None = None  # None: processes wait for their peers without deadlines (the steps' own tests)


@dataclass(frozen=True)
class ProcessKind:
    """Negotiation or transfer: what the shared moves need to know of each."""

    name: str  # "negotiation" | "transfer", as history and outbox rows name it
    path: str  # the DSP path segment of its processes
    machine: ProcessMachine[Any, Any]
    terminated: NegotiationState | TransferState
    termination: Message  # the message that ends a process
    request: Message  # the consumer's message that starts a process

    # Its message classes, looked up when used: the DSP messages load with the first one received or sent.
    @property
    def acknowledgement(self) -> type[ContractNegotiation] | type[TransferProcess]:
        from connector.dsp.messages import ContractNegotiation, TransferProcess

        return ContractNegotiation if self.name == "negotiation" else TransferProcess

    @property
    def error_body(self) -> type[ContractNegotiationError] | type[TransferError]:
        from connector.dsp.messages import ContractNegotiationError, TransferError

        return ContractNegotiationError if self.name == "negotiation" else TransferError

    @property
    def termination_message(self) -> type[ContractNegotiationTerminationMessage] | type[TransferTerminationMessage]:
        from connector.dsp.messages import ContractNegotiationTerminationMessage, TransferTerminationMessage

        return ContractNegotiationTerminationMessage if self.name == "negotiation" else TransferTerminationMessage

    def ack(self, record: Process, status: int = 200) -> Reply:
        body = self.acknowledgement(
            provider_pid=record.provider_pid or "",
            consumer_pid=record.consumer_pid or "",
            state=record.state,  # type: ignore[arg-type]
        ).to_json()
        return Reply(status, body, record.id)

    def error(self, status: int, problem: Problem, provider_pid: str | None, consumer_pid: str | None) -> Reply:
        body = self.error_body.from_problem(problem, provider_pid=provider_pid or "", consumer_pid=consumer_pid or "")
        return Reply(status, body.to_json())

    def not_found(self, pid: str | None, provider_pid: str | None = None, consumer_pid: str | None = None) -> Reply:
        problem = Problem(
            f"{self.machine.code_prefix}.not_found", f"no {self.machine.process} '{pid}' exists for this participant"
        )
        return self.error(404, problem, provider_pid, consumer_pid)

    def url(self, record: Process, action: str) -> str:
        """Where the peer takes `action` messages about `record`: under the peer's own process id."""
        from connector.dsp.process_messages import pid_segment

        peer_pid = record.consumer_pid if record.role == Role.PROVIDER else record.provider_pid
        return f"{record.peer_address}/{self.path}/{pid_segment(peer_pid or '')}/{action}"


NEGOTIATION = ProcessKind(
    name="negotiation",
    path="negotiations",
    machine=negotiation_machine.MACHINE,
    terminated=NegotiationState.TERMINATED,
    termination=NegotiationMessage.TERMINATION,
    request=NegotiationMessage.REQUEST,
)
TRANSFER = ProcessKind(
    name="transfer",
    path="transfers",
    machine=transfer_machine.MACHINE,
    terminated=TransferState.TERMINATED,
    termination=TransferMessage.TERMINATION,
    request=TransferMessage.REQUEST,
)
KINDS = {kind.name: kind for kind in (NEGOTIATION, TRANSFER)}


def kind_of(process: Process) -> ProcessKind:
    return NEGOTIATION if isinstance(process, Negotiation) else TRANSFER


def waits_for_peer(process: Process) -> bool:
    """Whether the process cannot go on until its peer (or, for an offer to consider, our own user) moves: it
    has not ended and owes no step. Every such negotiation state is a wait (REQUESTED, OFFERED, ACCEPTED, AGREED,
    VERIFIED); of a transfer only REQUESTED: STARTED is data flowing (or ready to) and SUSPENDED a pause one side
    chose, both for as long as the parties want."""
    if process.is_terminal or process.pending is not None:
        return False
    return isinstance(process, Negotiation) or process.state == TransferState.REQUESTED


class Draft(Generic[P]):
    """The outcome a step is making: the process as it becomes, and what is to be written and sent with it."""

    def __init__(self, record: P, ctx: StepContext, *, created: bool = False) -> None:
        self.kind = kind_of(record)
        self.ctx = ctx
        self.before: P | None = None if created else record
        self.record: P = record
        self.changed = created
        self.history: list[HistoryNote] = []
        self.evidence: list[EvidenceNote] = []
        self.messages: list[Outgoing] = []
        self.drop_queued = False
        self.agreement: Agreement | None = None
        self.finalizes_agreement = False
        self.flow: OpenFlow | None = None

    def change(self, **fields: Any) -> None:
        self.record = dataclasses.replace(self.record, **fields)
        self.changed = True

    def set_pending(self, step: PendingStep | None) -> None:
        text = encoded(step)
        if self.record.pending != text:
            self.change(pending=text)

    def note(self, cause: str, why: str | None = None, detail: Mapping[str, Any] | None = None) -> None:
        """A history entry without a state change (a decision, a delivery, a step not taken)."""
        state = str(self.record.state)
        self.history.append(HistoryNote(cause, state, state, why, detail))

    def record_evidence(self, kind: str, subject: Any = None, data: Mapping[str, Any] | None = None) -> None:
        self.evidence.append(EvidenceNote(kind, subject, data))

    def transition(
        self,
        to_state: Any,
        cause: str,
        why: str | None = None,
        detail: Mapping[str, Any] | None = None,
        **changes: Any,
    ) -> None:
        """Move to `to_state` (or only record a change when the state stays). `why` goes into the history entry;
        `changes` are record fields (including the record's own `reason`)."""
        if to_state.is_terminal:  # nothing is owed in a final state
            changes = {**changes, "pending": None, "deadline_at": None, "check_at": None}
        before = self.record
        self.change(state=to_state, updated_at=self.ctx.now, **changes)
        self.history.append(HistoryNote(cause, str(before.state), str(to_state), why, detail))

    def send(
        self,
        message: Message,
        body: Mapping[str, Any],
        url: str,
        why: str | None = None,
        detail: Mapping[str, Any] | None = None,
        *,
        signing: SignAgreement | Countersign | None = None,
        flow: OpenFlow | None = None,
        cause: str | None = None,
        **changes: Any,
    ) -> None:
        """Queue `body` for the peer and take the transition the machine allows; raises if it is not allowed.
        The history names the transition by the message sent, unless `cause` says why it was sent."""
        allowed = self.kind.machine.send(self.record.role, self.record.state, message)
        if isinstance(allowed, TransitionRefusal):
            raise ConnectorError(allowed.problem.code, allowed.problem.reason)
        body = with_message_id(body, self.ctx.new_id)
        self.messages.append(Outgoing(url, body.get("@type", str(message)), body, signing))
        if flow is not None:
            self.flow = flow
        self.transition(allowed.target, cause or f"sent {message.label}", why, detail, **changes)

    def terminate(self, reason: str, code: str = "terminated", cause: str | None = None) -> None:
        """End the process and tell the peer why (when the peer already knows the process); `cause` names the
        transition in the history (default: the termination message sent, or "terminated")."""
        self.drop_queued = True
        record = self.record
        if record.provider_pid and record.consumer_pid:
            body = self.kind.termination_message(
                provider_pid=record.provider_pid, consumer_pid=record.consumer_pid, code=code, reason=(reason,)
            ).to_json()
            try:
                url = self.kind.url(record, "termination")
                self.send(self.kind.termination, body, url, reason, cause=cause, reason=reason)
                return
            except ConnectorError:
                pass
        self.transition(self.kind.terminated, cause or "terminated", reason, reason=reason)

    def _wait_times(self) -> None:
        """A process that starts waiting for its peer gets its deadline and its first state query; one that
        no longer waits has neither. While it keeps waiting in the same state, its times stay."""
        waits = self.ctx.waits
        if waits is None:
            return
        record, before = self.record, self.before
        if waits_for_peer(record):
            same_wait = (
                before is not None
                and before.state == record.state
                and waits_for_peer(before)
                and record.deadline_at is not None
            )
            if not same_wait:
                deadline_at, check_at = waits.times(self.ctx.now)
                self.change(deadline_at=deadline_at, check_at=check_at)
        elif record.deadline_at is not None or record.check_at is not None:
            self.change(deadline_at=None, check_at=None)

    def outcome(self, reply: Reply | None = None) -> Outcome:
        self._wait_times()
        return Outcome(
            record=self.record,
            at=self.ctx.now,
            changed=self.changed,
            history=tuple(self.history),
            evidence=tuple(self.evidence),
            messages=tuple(self.messages),
            drop_queued=self.drop_queued,
            agreement=self.agreement,
            finalizes_agreement=self.finalizes_agreement,
            flow=self.flow,
            reply=reply,
        )


def with_message_id(body: Mapping[str, Any], new_id: Callable[[], str] = new_urn) -> Mapping[str, Any]:
    """`body` with a message `@id` of its own (kept if it has one): every retry of a queued message carries the
    same `@id`, so a peer whose answer was lost answers the retry as it answered the first delivery, instead of
    refusing a transition it has already taken."""
    if "@id" in body:
        return body
    identified: dict[str, Any] = {}
    for key, value in body.items():
        identified[key] = value
        if key == "@type":
            identified["@id"] = new_id()
    if "@id" not in identified:
        identified["@id"] = new_id()
    return identified


def scripted(ctx: StepContext, record: Process, message: str, default: PendingStep | None) -> PendingStep | None:
    """The step owed after receiving `message`: `default`, unless the conformance profile's script says otherwise."""
    if ctx.script is not None:
        override = ctx.script.on_received(record, message)
        if not isinstance(override, EllipsisType):
            return override
    return default


# --- messages received -------------------------------------------------------------------------------------------


def pids_match(record: Process, provider_pid: str | None, consumer_pid: str | None) -> bool:
    # Our own pid must match; the peer's may still be unknown to us (its answer to our request is in flight).
    if record.role == Role.PROVIDER:
        return provider_pid == record.provider_pid and consumer_pid == record.consumer_pid
    return consumer_pid == record.consumer_pid and (record.provider_pid is None or provider_pid == record.provider_pid)


def admit(
    kind: ProcessKind, record: Process | None, event: Received, our_role: Role | None = None
) -> Reply | Transition[Any, Any]:
    """Whether a message about one of our processes is taken: the transition it makes, or the answer refusing it
    (or acknowledging a repeated termination). A process of another peer, or in which we are not `our_role`,
    is 'not found' (DSP: unauthorised = 404)."""
    msg = event.message
    if (
        record is None
        or record.peer_id != event.peer.participant_id
        or (our_role is not None and record.role != our_role)
        or not pids_match(record, msg.provider_pid, msg.consumer_pid)
    ):
        return kind.not_found(event.path_pid, msg.provider_pid, msg.consumer_pid)
    allowed = kind.machine.receive(record.role, record.state, msg.kind)
    if isinstance(allowed, TransitionRefusal):
        return kind.error(400, allowed.problem, record.provider_pid, record.consumer_pid)
    if allowed.repeated:
        return kind.ack(record)
    return allowed


def receipt(event: Received) -> EvidenceNote:
    """The evidence that a message was received and taken."""
    return EvidenceNote("dsp.received", dict(event.body), {"type": event.message.kind})


def answered_again(kind: ProcessKind, record: Process, status: int, remembered: Any = None) -> Reply:
    """The answer to a message received again (the peer's answer got lost and it retried): the first answer
    (`status`, `remembered`) while the process is as it was then, the process as it is now when it moved on, and
    the protocol's error when it has ended TERMINATED since, so that the peer ends its side too instead of waiting
    for a process that is over."""
    if isinstance(remembered, dict) and remembered.get("state") == str(record.state):
        return Reply(status, remembered)
    if record.state == kind.terminated:
        problem = Problem(
            f"{kind.machine.code_prefix}.terminated",
            f"the {kind.machine.process} has ended: TERMINATED ({record.reason or 'no reason given'})",
        )
        return kind.error(400, problem, record.provider_pid, record.consumer_pid)
    return kind.ack(record, status)


def first_message_answered(
    kind: ProcessKind, event: Received, existing: Process | None, ctx: StepContext
) -> Reply | None:
    """The answer to a peer's first message that starts no process: a retry is answered for the process it
    started (`existing`), a message whose callbackAddress we would not send to is refused."""
    from connector.dsp.process_messages import callback_problem

    if existing is not None:
        return answered_again(kind, existing, 201)
    msg = event.message
    why = callback_problem(msg.callback_address, allow_http=ctx.http_callbacks)
    if why is None:
        return None
    problem = Problem("dsp.invalid_message", f"callbackAddress {why}", "$.callbackAddress")
    return kind.error(400, problem, getattr(msg, "provider_pid", None), getattr(msg, "consumer_pid", None))


def created(
    record: Process,
    event: Received,
    ctx: StepContext,
    cause: str,
    why: str | None,
    detail: Mapping[str, Any],
    script_key: str,
    default: PendingStep | None,
) -> Outcome:
    """A process the peer started with `event`: stored with the step we owe, acknowledged with 201."""
    draft = Draft(record, ctx, created=True)
    draft.set_pending(scripted(ctx, record, script_key, default))
    draft.history.append(HistoryNote(cause, None, str(record.state), why, detail))
    draft.evidence.append(receipt(event))
    return draft.outcome(reply=draft.kind.ack(draft.record, 201))


# --- our own moves -------------------------------------------------------------------------------------------------


def opened(record: Process, ctx: StepContext, body: Mapping[str, Any], url: str, detail: Mapping[str, Any]) -> Outcome:
    """A process we start as consumer with the request `body` (the process is new, so `body` needs no `@id`)."""
    kind = kind_of(record)
    allowed = kind.machine.send(Role.CONSUMER, None, kind.request)
    assert not isinstance(allowed, TransitionRefusal)
    draft = Draft(record, ctx, created=True)
    message_type = body["@type"]
    draft.messages.append(Outgoing(url, message_type, body))
    draft.history.append(HistoryNote(f"sent {message_type}", None, str(record.state), None, detail))
    return draft.outcome()


# A pending step's move: fills the draft of the process it is owed in, given the step's argument and the facts.
Step = Callable[[Draft[P], str | None, Facts], None]


def perform(record: P, facts: Facts, ctx: StepContext, steps: Mapping[StepName, Step[P]]) -> Outcome:
    """Take the step `record` owes (its `pending`, which it then owes no longer)."""
    draft = Draft(record, ctx)
    text = record.pending or ""
    step = PendingStep.decode(text)
    draft.set_pending(None)
    handler = steps.get(step.name) if step is not None else None
    if step is None or handler is None:
        draft.terminate(f"internal: unknown step '{text.partition(':')[0]}'")
        return draft.outcome()
    try:
        handler(draft, step.argument, facts)
    except ConnectorError as exc:  # the machine or a check refused our own move: say so, do not crash
        draft.note(f"step '{step.name}' not taken", exc.reason)
    return draft.outcome()


def commanded(record: P | None, kind: ProcessKind, pid: str) -> P:
    """The process a user's command is about, if it is there and not over."""
    if record is None:
        raise ConnectorError(f"{kind.name}.not_found", f"no {kind.name} '{pid}'")
    if record.is_terminal:
        raise ConnectorError(f"{kind.name}.invalid_state", f"{kind.name} '{pid}' is already {record.state}")
    return record


# --- deliveries ----------------------------------------------------------------------------------------------------


def delivered(record: Process, message_type: str, response: Any, facts: Facts, ctx: StepContext) -> Outcome:
    """Our message reached the peer: note it, learn the provider's pid from the answer to our first request."""
    from connector.dsp.process_messages import pid_problem

    draft = Draft(record, ctx)
    kind = draft.kind
    if message_type == kind.request and record.role == Role.CONSUMER and record.provider_pid is None:
        provider_pid = response.get("providerPid") if isinstance(response, dict) else None
        unusable = pid_problem(provider_pid)
        if unusable is not None:
            why = f"the provider's answer to our {message_type} names no providerPid"
            if isinstance(provider_pid, str) and provider_pid:
                why = f"the providerPid in the provider's answer to our {message_type} {unusable}"
            # A negotiation keeps the reason it ended; a transfer ending so never did (its row stays as it was).
            changes: dict[str, Any] = {"reason": why} if kind is NEGOTIATION else {}
            draft.transition(kind.terminated, "delivery failed", why, **changes)
            return draft.outcome()
        draft.change(provider_pid=provider_pid, updated_at=ctx.now)
    draft.note(f"delivered {message_type}")
    if ctx.script is not None and not draft.record.is_terminal:
        step = ctx.script.after_delivered(draft.record, message_type, facts.delivered_before)
        if step is not None:
            draft.set_pending(step)
    return draft.outcome()


def delivery_failed(record: Process, reason: str, ctx: StepContext) -> Outcome:
    """The peer refused our message, or stayed away past the deadline: the process ends, with that reason, and
    the peer is told (best effort: the termination is tried until its own delivery deadline, then dropped), so
    that a peer that comes back does not wait for a process we gave up."""
    draft = Draft(record, ctx)
    draft.terminate(reason, code="delivery.failed", cause="delivery failed")
    return draft.outcome()


# --- helpers -------------------------------------------------------------------------------------------------------


def peer_reason(prefix: str, code: str | None, reasons: tuple[Any, ...]) -> str:
    """One line saying why the peer ended or suspended a process, from its message's code and reasons."""
    text = "; ".join(_reason_text(r) for r in reasons if r) if reasons else ""
    parts = [prefix]
    if text:
        parts.append(text)
    if code:
        parts.append(f"(code {code})")
    return ": ".join(parts[:2]) + (" " + parts[2] if len(parts) > 2 else "")


def _reason_text(reason: Any) -> str:
    if isinstance(reason, dict):  # e.g. {"message": "..."}, as some peers send
        for key in ("message", "reason", "description", "@value"):
            if isinstance(reason.get(key), str):
                return str(reason[key])
        return json.dumps(reason, sort_keys=True)
    return str(reason)
