"""Transfer processes, both roles, as pure steps: messages from peers, our own moves, and users' commands.

Same pattern as negotiations.py. A transfer only exists under an agreement the provider concluded with exactly
this consumer; the agreement's rules are evaluated again when the transfer is requested and each time it is
resumed, with the current time, use count and credentials. The data plane is driven through the outcome (a flow
to open; the shell tells the data plane of every change); the control plane never touches bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.control import claims_codec, pending
from connector.control.decisions import UsageContext, Verdict
from connector.control.events import Received
from connector.control.facts import Admission, Facts
from connector.control.outcome import EvidenceNote, OpenFlow, Outcome, Reply
from connector.control.pending import StepName
from connector.control.steps import (
    TRANSFER,
    Draft,
    Step,
    StepContext,
    commanded,
    created,
    first_message_answered,
    opened,
    peer_reason,
    scripted,
)
from connector.control.steps import perform as perform_step
from connector.dsp import transfer_machine as machine
from connector.dsp.process_machine import Transition, TransitionRefusal
from connector.dsp.vocabulary import Role
from connector.dsp.vocabulary import TransferMessage as M
from connector.dsp.vocabulary import TransferState as S
from connector.errors import ConnectorError, Problem
from connector.records.definitions import Asset
from connector.records.processes import Agreement, Transfer

if TYPE_CHECKING:  # the DSP messages load with the first one received or sent
    from connector.dsp.messages import TransferRequestMessage

KIND = TRANSFER

# How the history and a peer's reason name what the peer reported.
_REPORTED = {M.COMPLETION: "completion", M.SUSPENSION: "suspension", M.TERMINATION: "termination"}


# --- the provider receives a request ----------------------------------------------------------------------------


def initial_request(
    event: Received,
    ctx: StepContext,
    existing: Transfer | None,
    agreement: Agreement | None,
    asset: Asset | None,
) -> Reply | Outcome:
    """Provider: a consumer's TransferRequestMessage. `existing`: the transfer this consumer pid already started
    with us; `agreement`: the agreement it names; `asset`: that agreement's dataset."""
    msg: TransferRequestMessage = event.message
    answered = first_message_answered(KIND, event, existing, ctx)
    if answered is not None:
        return answered
    peer_id = event.peer.participant_id
    if agreement is None or agreement.provider_id != ctx.participant_id or agreement.consumer_id != peer_id:
        problem = Problem(
            "transfer.unknown_agreement", f"there is no agreement '{msg.agreement_id}' between this provider and you"
        )
        return KIND.error(400, problem, None, msg.consumer_pid)
    if not agreement.finalized:
        problem = Problem("transfer.agreement_not_final", f"agreement '{msg.agreement_id}' is not finalized")
        return KIND.error(400, problem, None, msg.consumer_pid)
    formats = asset.formats if asset else ("HttpData-PULL",)
    if msg.format not in formats:
        problem = Problem(
            "transfer.unsupported_format",
            f"dataset '{agreement.dataset_id}' is not available as {msg.format!r}; available: {', '.join(formats)}",
            "$.format",
        )
        return KIND.error(400, problem, None, msg.consumer_pid)
    if msg.format.endswith("-PUSH") and (msg.data_address is None or not msg.data_address.endpoint):
        problem = Problem(
            "transfer.no_destination", "a push transfer needs a dataAddress with an endpoint", "$.dataAddress"
        )
        return KIND.error(400, problem, None, msg.consumer_pid)
    allowed = machine.receive(Role.PROVIDER, None, M.REQUEST)
    assert not isinstance(allowed, TransitionRefusal)
    pid = ctx.new_id()
    tp = Transfer(
        id=pid,
        role=Role.PROVIDER,
        state=allowed.target,
        peer_id=peer_id,
        peer_address=msg.callback_address.rstrip("/"),
        agreement_id=msg.agreement_id,
        format=msg.format,
        provider_pid=pid,
        consumer_pid=msg.consumer_pid,
        data_address=msg.data_address.to_node() if msg.data_address else None,
        claims=event.peer.claims,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    detail = {"agreement": msg.agreement_id, "format": msg.format}
    return created(tp, event, ctx, "received TransferRequestMessage", None, detail, M.REQUEST, pending.START)


# --- messages about a transfer of ours --------------------------------------------------------------------------


def on_received(tp: Transfer, event: Received, allowed: Transition[S, M], facts: Facts, ctx: StepContext) -> Outcome:
    """A message the machine takes (see steps.admit), already logged as received. Facts: `admission` for a
    provider's resume, `flow_detail` for a completion."""
    msg = event.message
    message: M = msg.kind
    draft = Draft(tp, ctx)
    if message == M.START and tp.role == Role.PROVIDER:
        # The consumer resumes a suspended transfer: the agreement must still allow it.
        verdict, decided = admission(tp, facts.admission, ctx)
        if decided is not None:
            draft.evidence.append(decided)
        if not verdict.permitted:
            draft.note(
                "resume refused by the agreement's policy",
                verdict.reason,
                {"trace": verdict.trace, "explanation": verdict.explanation},
            )
            problem = Problem("policy.refused", f"the agreement no longer permits this transfer: {verdict.reason}")
            return draft.outcome(reply=KIND.error(400, problem, tp.provider_pid, tp.consumer_pid))
        draft.flow = OpenFlow(first=False)
        draft.transition(allowed.target, "received TransferStartMessage (resume)", None, {"trace": verdict.trace})
    elif message == M.START:
        address = msg.data_address.to_node() if msg.data_address else tp.data_address
        draft.transition(
            allowed.target,
            "received TransferStartMessage",
            None,
            {"endpoint": msg.data_address.endpoint if msg.data_address else None},
            data_address=address,
            provider_pid=tp.provider_pid or msg.provider_pid,
        )
    else:  # completion, suspension, termination
        reason = None
        detail: dict[str, Any] = {}
        if getattr(msg, "reason", None) or getattr(msg, "code", None):
            reason = peer_reason(f"the peer's {_REPORTED[message]}", msg.code, msg.reason)
            detail = {"code": msg.code, "reason": list(msg.reason)}
        if allowed.target in (S.TERMINATED, S.COMPLETED):
            draft.drop_queued = True
        if message == M.COMPLETION:
            detail.update(facts.flow_detail)
        changes = {"reason": reason} if reason and allowed.target == S.TERMINATED else {}
        draft.transition(allowed.target, f"received {message.value}", reason, detail or None, **changes)
    draft.set_pending(scripted(ctx, draft.record, message, None))
    return draft.outcome(reply=KIND.ack(draft.record))


# --- policy at transfer time ------------------------------------------------------------------------------------


def admission(
    tp: Transfer, facts: Admission | None, ctx: StepContext, first_start: bool = False
) -> tuple[Verdict, EvidenceNote | None]:
    """Does the agreement still permit this transfer now (time, use count, the peer's credentials)? With the
    evidence of the decision (None when there was nothing to decide on).

    The use count is the number of transfers started under the agreement before this one: when this transfer
    is about to start for the first time it is not among them yet; when it resumes or is pulled, it is."""
    agreement = facts.agreement if facts is not None else None
    if facts is None or agreement is None:
        return Verdict(False, (f"agreement '{tp.agreement_id}' is unknown",)), None
    usage = UsageContext(
        now=ctx.now,
        agreement_time=agreement.concluded_at,
        use_count=facts.started if first_start else max(0, facts.started - 1),
        purpose=facts.purpose,
    )
    claims = claims_codec.from_json(tp.claims, tp.peer_id, ctx.now)
    verdict = ctx.decisions.transfer(agreement.policy, claims, usage)
    data = {"stage": "transfer", "permitted": verdict.permitted, "reasons": list(verdict.reasons)}
    return verdict, EvidenceNote("policy.decided", verdict.trace, data)


# --- our moves ------------------------------------------------------------------------------------------------


def perform(tp: Transfer, facts: Facts, ctx: StepContext) -> Outcome:
    """Do the step `tp` owes. Facts: `admission` for start."""
    return perform_step(tp, facts, ctx, _STEPS)


def _start(draft: Draft[Transfer], _: str | None, facts: Facts) -> None:
    """Provider: start (or resume) the transfer if the agreement permits it now; the data plane gives the data
    address to send (see OpenFlow)."""
    from connector.dsp.messages import TransferStartMessage

    tp, ctx = draft.record, draft.ctx
    first = tp.state == S.REQUESTED
    if ctx.script is None:
        verdict, decided = admission(tp, facts.admission, ctx, first_start=first)
        if decided is not None:
            draft.evidence.append(decided)
        draft.note(
            "transfer policy decided",
            verdict.reason,
            {"permitted": verdict.permitted, "trace": verdict.trace, "explanation": verdict.explanation},
        )
        if not verdict.permitted:
            draft.terminate(f"the agreement does not permit this transfer: {verdict.reason}", code="policy.refused")
            return
    body = TransferStartMessage(provider_pid=tp.provider_pid or tp.id, consumer_pid=tp.consumer_pid or "").to_json()
    draft.send(M.START, body, KIND.url(tp, "start"), flow=OpenFlow(first))


def _complete(draft: Draft[Transfer], _: str | None, facts: Facts) -> None:
    from connector.dsp.messages import TransferCompletionMessage

    tp = draft.record
    body = TransferCompletionMessage(provider_pid=tp.provider_pid or "", consumer_pid=tp.consumer_pid or "").to_json()
    draft.send(M.COMPLETION, body, KIND.url(tp, "completion"))


def _suspend(draft: Draft[Transfer], argument: str | None, facts: Facts) -> None:
    from connector.dsp.messages import TransferSuspensionMessage

    tp = draft.record
    reason = argument or "suspended by this participant"
    body = TransferSuspensionMessage(
        provider_pid=tp.provider_pid or "", consumer_pid=tp.consumer_pid or "", code="suspended", reason=(reason,)
    ).to_json()
    draft.send(M.SUSPENSION, body, KIND.url(tp, "suspension"), reason)


def _terminate(draft: Draft[Transfer], argument: str | None, facts: Facts) -> None:
    draft.terminate(argument or "terminated by this participant")


_STEPS: Mapping[StepName, Step[Transfer]] = {
    StepName.START: _start,
    StepName.COMPLETE: _complete,
    StepName.SUSPEND: _suspend,
    StepName.TERMINATE: _terminate,
}


# --- commands ---------------------------------------------------------------------------------------------------


def provider_of(
    agreement: Agreement | None,
    agreement_id: str,
    ctx: StepContext,
    provider_id: str | None = None,
    provider_address: str | None = None,
) -> tuple[str, str]:
    """Consumer, before requesting a transfer: the provider to ask (id and DSP address), from our `agreement`,
    or (conformance tests) as given; raises if there is none to ask."""
    if agreement is not None:
        if agreement.consumer_id != ctx.participant_id:
            raise ConnectorError(
                "transfer.not_consumer", f"in agreement '{agreement_id}' this node is not the consumer"
            )
        if not agreement.finalized:
            raise ConnectorError("transfer.agreement_not_final", f"agreement '{agreement_id}' is not finalized yet")
        provider_id = agreement.provider_id
        provider_address = provider_address or agreement.provider_address
    elif provider_id is None or provider_address is None:
        raise ConnectorError("agreement.not_found", f"no agreement '{agreement_id}'")
    if not provider_address:
        raise ConnectorError("transfer.no_address", "the provider's DSP address is unknown")
    return provider_id, provider_address


def start(
    ctx: StepContext,
    pid: str,
    agreement_id: str,
    format: str,
    destination: Mapping[str, Any] | None,
    provider_id: str,
    provider_address: str,
    callback_url: str,
) -> Outcome:
    """Consumer: request transfer `pid` under one of our agreements, from the provider `provider_of` named;
    `destination`: where a push goes (our own data listener's, when the data plane gave one)."""
    from connector.dsp.messages import DataAddress, TransferRequestMessage

    if format.endswith("-PUSH") and not destination:
        raise ConnectorError("transfer.no_destination", "a push transfer needs a destination (dataDestination)")
    body = TransferRequestMessage(
        consumer_pid=pid,
        agreement_id=agreement_id,
        format=format,
        callback_address=callback_url,
        data_address=DataAddress.from_node(dict(destination)) if destination else None,
    ).to_json()
    tp = Transfer(
        id=pid,
        role=Role.CONSUMER,
        state=S.REQUESTED,
        peer_id=provider_id,
        peer_address=provider_address.rstrip("/"),
        agreement_id=agreement_id,
        format=format,
        consumer_pid=pid,
        data_address=dict(destination) if destination else None,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    detail = {"agreement": agreement_id, "format": format}
    return opened(tp, ctx, body, f"{tp.peer_address}/transfers/request", detail)


def command(tp: Transfer | None, pid: str, action: str, reason: str | None, facts: Facts, ctx: StepContext) -> Outcome:
    """suspend | resume | complete | terminate. Facts: `admission` for a provider's resume. A consumer's
    completion is checked with the data plane first (by the shell)."""
    from connector.dsp.messages import TransferStartMessage

    tp = commanded(tp, KIND, pid)
    draft = Draft(tp, ctx)
    if action == "terminate":
        draft.terminate(reason or "terminated by this participant")
    elif action == "suspend":
        _suspend(draft, reason, facts)
    elif action == "complete":
        _complete(draft, None, facts)
    elif action == "resume":
        if tp.state != S.SUSPENDED:
            raise ConnectorError("transfer.invalid_state", f"only a SUSPENDED transfer can be resumed, not {tp.state}")
        if tp.role == Role.PROVIDER:
            _start(draft, None, facts)
        else:
            body = TransferStartMessage(provider_pid=tp.provider_pid or "", consumer_pid=tp.id).to_json()
            draft.send(M.START, body, KIND.url(tp, "start"))
    else:
        raise ConnectorError("transfer.bad_command", f"unknown action '{action}'")
    return draft.outcome()
