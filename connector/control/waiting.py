"""A process waiting for its peer, as pure steps: when its time comes (a state query due, or its deadline), and
what to make of the state the peer reports.

Both sides of a process must end in the same state without a person stepping in. A message can be lost for good
(a side gave up delivering it, or refused it because its clock or its verification failed at that moment), and
then one side waits for a message that will never come. So a waiting process (see steps.waits_for_peer) has a
deadline, and long before it, asks the peer for the process (`GET .../negotiations/{pid}`, `.../transfers/{pid}`)
and follows what it hears:

- the peer ended it (TERMINATED): so do we, with the peer's word for it;
- the peer does not know it (404 with the protocol's error body): it cannot go on; we end it;
- the peer reached the end we are one message short of (FINALIZED while we are VERIFIED: the provider's event
  was lost): the protocol has nothing left for either side to do but record it, so we do; a peer at an end we
  cannot reach from here (it has an agreement we never verified, a transfer we never saw start) is told that we
  end the process, and we end it;
- anything else (the same state, or a state its message on its way to us will bring us to): we wait on, and ask
  again later. At the deadline we give up, and tell the peer.

Nothing here does I/O: the shell (apply.py) reads the process and persists the outcome, the timer loop
(timers.py) sends the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.control.outcome import Outcome, Process
from connector.control.steps import NEGOTIATION, Draft, StepContext, kind_of, waits_for_peer
from connector.dsp.vocabulary import NegotiationState, Role, TransferState

# An end the peer reached that we reach too by recording it, from the state we wait in: (kind, our state, theirs).
_CATCH_UP = frozenset({("negotiation", NegotiationState.VERIFIED, NegotiationState.FINALIZED)})
# The states that end a process well, for each kind (TERMINATED is followed in every case).
_ENDS = {"negotiation": frozenset({"FINALIZED"}), "transfer": frozenset({"COMPLETED"})}


@dataclass(frozen=True)
class StateQuery:
    """Ask the peer for the process's state: GET `url`, from the participant `peer_id`."""

    url: str
    peer_id: str


def query_url(record: Process) -> str:
    """Where the peer answers for its side of `record`: its process, under its own process id."""
    from connector.dsp.process_messages import pid_segment

    kind = kind_of(record)
    peer_pid = record.consumer_pid if record.role == Role.PROVIDER else record.provider_pid
    return f"{record.peer_address}/{kind.path}/{pid_segment(peer_pid or '')}"


def when_due(record: Process | None, queued: int, ctx: StepContext) -> tuple[Outcome | None, StateQuery | None]:
    """The process's check time has come: what to persist (None: nothing), and the state query to send (None:
    none). `queued`: its messages not yet delivered (then the delivery, with its own deadline, decides)."""
    waits = ctx.waits
    if record is None or waits is None:
        return None, None
    draft = Draft(record, ctx)
    now = ctx.now
    if not waits_for_peer(record) or record.deadline_at is None:  # it moved on, or waits without times yet
        outcome = draft.outcome()  # which sets or clears its times
        return (outcome if outcome.changed else None), None
    if queued:  # our message is on its way, under its own delivery deadline: look again after that
        draft.change(check_at=now + (waits.query_after or waits.deadline))
        return draft.outcome(), None
    if now >= record.deadline_at:
        seconds = waits.deadline.total_seconds()
        draft.terminate(
            f"gave up waiting for the peer after {seconds:g} s in {record.state} (the wait deadline)",
            code="wait.deadline",
            cause="wait deadline passed",
        )
        return draft.outcome(), None
    peer_pid = record.consumer_pid if record.role == Role.PROVIDER else record.provider_pid
    if waits.query_after is None or not peer_pid:
        draft.change(check_at=record.deadline_at)
        return draft.outcome(), None
    draft.change(check_at=min(record.deadline_at, now + waits.query_after))
    return draft.outcome(), StateQuery(query_url(record), record.peer_id)


def followed(record: Process | None, status: int, body: Any, ctx: StepContext) -> Outcome | None:
    """What the peer's answer to our state query makes of the process (None: nothing; wait on)."""
    if record is None or not waits_for_peer(record):
        return None  # it moved on while the answer was on its way
    kind = kind_of(record)
    draft = Draft(record, ctx)
    if status == 404:
        if not (isinstance(body, dict) and body.get("@type") == kind.error_body.TYPE):
            return None  # not a DSP answer (a proxy, a peer without the endpoint): nothing learnt
        said = _said(body)
        draft.drop_queued = True
        draft.transition(
            kind.terminated,
            "state query: unknown to the peer",
            f"the peer does not know the {kind.name}{said}",
            reason=f"the peer does not know the {kind.name}{said}",
        )
        return draft.outcome()
    if status != 200 or not isinstance(body, dict) or body.get("@type") != kind.acknowledgement.TYPE:
        return None
    ours = record.provider_pid if record.role == Role.PROVIDER else record.consumer_pid
    mine_key = "providerPid" if record.role == Role.PROVIDER else "consumerPid"
    if body.get(mine_key) != ours:
        return None  # an answer about another process
    theirs = body.get("state")
    if theirs == str(kind.terminated):
        reason = f"the peer reports the {kind.name} TERMINATED"
        draft.drop_queued = True
        cause = "state query: terminated by the peer"
        draft.transition(kind.terminated, cause, reason, {"peerState": theirs}, reason=reason)
        return draft.outcome()
    if theirs not in _ENDS[kind.name]:
        return None  # the same state, or one its message on its way brings us to: wait on
    if (kind.name, record.state, theirs) in _CATCH_UP:
        target = NegotiationState(theirs) if kind is NEGOTIATION else TransferState(theirs)
        draft.transition(
            target,
            "state query: the peer has ended it so",
            f"the peer reports the {kind.name} {theirs}; its message saying so was lost",
            {"peerState": theirs},
        )
        draft.finalizes_agreement = kind is NEGOTIATION
        return draft.outcome()
    reason = f"the peer reports the {kind.name} {theirs}, which this side cannot reach from {record.state}"
    draft.terminate(reason, code="state.diverged", cause="state query: diverged")
    return draft.outcome()


def _said(body: dict[str, Any]) -> str:
    code, reasons = body.get("code"), body.get("reason")
    text = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else ""
    return f" ({code}: {text})" if code and text else f" ({code or text})" if code or text else ""


__all__ = ["StateQuery", "followed", "query_url", "when_due"]
