"""What every control-plane step shares: its environment, and the two moves that change a process.

A step is a plain function run inside one store transaction: it loads a record, asks the state machine, and
writes the new record, its history entry, its evidence and any outgoing message together. `transition` changes
the state (and says why); `send` does what the machine allows us to send, by queueing the message in the outbox
in the same transaction, so the new state is committed before the peer can possibly react to it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from connector.control.decisions import Decisions
from connector.control.ports import AgreementSigner, DataPlane, EvidenceSink, no_evidence
from connector.dsp import negotiation_machine, transfer_machine
from connector.dsp.process_machine import Refusal
from connector.dsp.vocabulary import NegotiationMessage, TransferMessage
from connector.errors import ConnectorError, Problem
from connector.records.processes import Negotiation, Transfer
from connector.store.interface import Tx as Database
from connector.store.sql import processes as repo

Process = Negotiation | Transfer


class Script(Protocol):
    """Overrides of the default next step (used by the conformance-test profile)."""

    def on_received(self, process: Process, message: str) -> str | None | type[Ellipsis]: ...

    def after_delivered(self, process: Process, message_type: str, delivered_before: int) -> str | None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StepEnv:
    """What a step may use besides the transaction: made once, complete, by the control plane."""

    participant_id: str
    callback: Callable[[], str]  # our own DSP base URL, given to peers as callbackAddress (known once bound)
    decisions: Decisions
    delivery_deadline: float
    message_spacing: float = 0.0
    script: Script | None = None
    evidence: EvidenceSink = no_evidence
    clock: Callable[[], datetime] = _utcnow
    dataplane: DataPlane | None = None  # None: a node without a data plane (the plain-HTTP test profile)
    signer: AgreementSigner | None = None  # None: agreements are not signed (no evidence log)

    @property
    def callback_url(self) -> str:
        return self.callback()

    def now(self) -> datetime:
        return self.clock()

    @staticmethod
    def new_pid() -> str:
        return f"urn:uuid:{uuid.uuid4()}"


def kind_of(process: Process) -> str:
    return "negotiation" if isinstance(process, Negotiation) else "transfer"


def machine_of(process: Process) -> Any:
    return negotiation_machine if isinstance(process, Negotiation) else transfer_machine


def save(db: Database, process: Process) -> None:
    if isinstance(process, Negotiation):
        repo.save_negotiation(db, process)
    else:
        repo.save_transfer(db, process)


def transition(
    db: Database,
    env: StepEnv,
    process: Process,
    to_state: Any,
    cause: str,
    why: str | None = None,
    detail: Mapping[str, Any] | None = None,
    **changes: Any,
) -> Any:
    """Move `process` to `to_state` (or only record a change when the state stays), with history and evidence.
    `why` goes into the history entry; `changes` are record fields (including the record's own `reason`)."""
    now = env.now()
    updated = dataclasses.replace(process, state=to_state, updated_at=now, **changes)
    if updated.is_terminal:
        updated = dataclasses.replace(updated, pending=None, deadline_at=None)
    save(db, updated)
    repo.append_history(db, kind_of(process), process.id, now, str(process.state), str(to_state), cause, why, detail)
    if str(process.state) != str(to_state):
        env.evidence(
            db,
            "state.changed",
            process_id=process.id,
            peer=process.peer_id,
            data={
                "kind": kind_of(process),
                "from": str(process.state),
                "to": str(to_state),
                "cause": cause,
                "reason": why,
            },
        )
    return updated


def note(
    db: Database,
    env: StepEnv,
    process: Process,
    cause: str,
    why: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """A history entry without a state change (a decision, a delivery, a retry that gave up)."""
    repo.append_history(
        db, kind_of(process), process.id, env.now(), str(process.state), str(process.state), cause, why, detail
    )


def send(
    db: Database,
    env: StepEnv,
    process: Process,
    message: NegotiationMessage | TransferMessage,
    body: Mapping[str, Any],
    url: str,
    why: str | None = None,
    detail: Mapping[str, Any] | None = None,
    **changes: Any,
) -> Any:
    """Queue `body` for the peer and take the transition the machine allows; raises if it is not allowed."""
    outcome = machine_of(process).send(process.role, process.state, message)
    if isinstance(outcome, Refusal):
        raise ConnectorError(outcome.problem.code, outcome.problem.reason)
    now = env.now()
    # Spacing (conformance profile): a peer that registers for our next message only after it has handled
    # the previous one must not be raced.
    not_before = now + timedelta(seconds=env.message_spacing) if env.message_spacing > 0 else None
    body = with_message_id(body)
    repo.enqueue(
        db,
        kind_of(process),
        process.id,
        process.peer_id,
        url,
        body.get("@type", str(message)),
        body,
        now,
        now + timedelta(seconds=env.delivery_deadline),
        not_before,
    )
    env.evidence(
        db,
        "dsp.sent",
        process_id=process.id,
        peer=process.peer_id,
        subject=body,
        data={"type": body.get("@type"), "url": url},
    )
    cause = f"sent {message.label if hasattr(message, 'label') else message}"
    return transition(db, env, process, outcome.target, cause, why, detail, **changes)


def scripted_step_after_delivery(db: Database, env: StepEnv, process: Process, message_type: str) -> str | None:
    """Conformance profile only: the step the TCK's script wants after we delivered `message_type` (counting the
    earlier deliveries of that type), or None."""
    if env.script is None or process.is_terminal:
        return None
    cause = f"delivered {message_type}"
    before = sum(1 for h in repo.history(db, process.id) if h.cause == cause) - 1
    step: str | None = env.script.after_delivered(process, message_type, before)
    return step


def with_message_id(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """`body` with a message `@id` of its own (kept if it has one): every retry of a queued message carries the
    same `@id`, so a peer whose answer was lost answers the retry as it answered the first delivery, instead of
    refusing a transition it has already taken."""
    if "@id" in body:
        return body
    identified: dict[str, Any] = {}
    for key, value in body.items():
        identified[key] = value
        if key == "@type":
            identified["@id"] = f"urn:uuid:{uuid.uuid4()}"
    identified.setdefault("@id", f"urn:uuid:{uuid.uuid4()}")
    return identified


def refusal_problem(outcome: Refusal) -> Problem:
    return outcome.problem
