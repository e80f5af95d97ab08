"""Transfer processes, both roles: messages from peers, our own moves, and users' commands.

Same pattern as negotiations.py. A transfer only exists under an agreement the provider concluded with exactly
this consumer; the agreement's rules are evaluated again when the transfer is requested and each time it is
resumed, with the current time, use count and credentials. The data plane is driven through `env.dataplane`
(start, suspend, complete, terminate); the control plane never touches bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from connector.control import claims_codec
from connector.control.decisions import UsageContext, Verdict
from connector.control.negotiations import Peer, Reply, _is_url, _peer_reason
from connector.control.steps import StepEnv, note, scripted_step_after_delivery, send, transition
from connector.dsp import transfer_machine as machine
from connector.dsp.messages import (
    TransferCompletionMessage,
    TransferError,
    TransferProcess,
    TransferRequestMessage,
    TransferStartMessage,
    TransferSuspensionMessage,
    TransferTerminationMessage,
)
from connector.dsp.process_machine import Refusal
from connector.dsp.vocabulary import Role
from connector.dsp.vocabulary import TransferMessage as M
from connector.dsp.vocabulary import TransferState as S
from connector.errors import ConnectorError, Problem
from connector.records.processes import Agreement, OutboxEntry, Transfer
from connector.store.interface import Tx as Database
from connector.store.sql import processes as repo

KIND = "transfer"


def ack(tp: Transfer, status: int = 200, wake: bool = False) -> Reply:
    body = TransferProcess(
        provider_pid=tp.provider_pid or "", consumer_pid=tp.consumer_pid or "", state=tp.state
    ).to_json()
    return Reply(status, body, tp.id, wake)


def error(status: int, problem: Problem, provider_pid: str | None, consumer_pid: str | None) -> Reply:
    body = TransferError.from_problem(
        problem, provider_pid=provider_pid or "", consumer_pid=consumer_pid or ""
    ).to_json()
    return Reply(status, body)


def not_found(pid: str | None, provider_pid: str | None = None, consumer_pid: str | None = None) -> Reply:
    return error(
        404,
        Problem("dsp.transfer.not_found", f"no transfer process '{pid}' exists for this participant"),
        provider_pid,
        consumer_pid,
    )


def get(db: Database, pid: str, peer: Peer) -> Reply:
    tp = repo.get_transfer(db, pid)
    if tp is None or tp.peer_id != peer.participant_id:
        return not_found(pid)
    return ack(tp)


def _next_step(env: StepEnv, tp: Transfer, message: str, default: str | None) -> str | None:
    if env.script is not None:
        override = env.script.on_received(tp, message)
        if override is not Ellipsis:
            return override  # type: ignore[return-value]
    return default


def _set_pending(db: Database, tp: Transfer, step: str | None) -> Transfer:
    """`tp` (as stored in this transaction) with another pending step."""
    if tp.pending == step:
        return tp
    repo.set_pending(db, KIND, tp.id, step)
    return dataclasses.replace(tp, pending=step)


def _received(db: Database, env: StepEnv, tp: Transfer, body: Mapping[str, Any], message: str) -> None:
    env.evidence(db, "dsp.received", process_id=tp.id, peer=tp.peer_id, subject=dict(body), data={"type": message})


def _lookup(db: Database, pid: str, peer: Peer, provider_pid: str, consumer_pid: str) -> Transfer | None:
    tp = repo.get_transfer(db, pid)
    if tp is None or tp.peer_id != peer.participant_id:
        return None
    if tp.role == Role.PROVIDER:
        ok = provider_pid == tp.provider_pid and consumer_pid == tp.consumer_pid
    else:
        ok = consumer_pid == tp.consumer_pid and (tp.provider_pid is None or provider_pid == tp.provider_pid)
    return tp if ok else None


# --- the provider receives ----------------------------------------------------------------------------------------


def receive_request(
    db: Database, env: StepEnv, peer: Peer, msg: TransferRequestMessage, body: Mapping[str, Any]
) -> Reply:
    existing = repo.find_provider_transfer(db, peer.participant_id, msg.consumer_pid)
    if existing is not None:
        return ack(existing, 201)
    if not _is_url(msg.callback_address):
        return error(
            400,
            Problem("dsp.invalid_message", "callbackAddress must be an http(s) URL", "$.callbackAddress"),
            None,
            msg.consumer_pid,
        )
    agreement = repo.get_agreement(db, msg.agreement_id)
    if agreement is None or agreement.provider_id != env.participant_id or agreement.consumer_id != peer.participant_id:
        return error(
            400,
            Problem(
                "transfer.unknown_agreement",
                f"there is no agreement '{msg.agreement_id}' between this provider and you",
            ),
            None,
            msg.consumer_pid,
        )
    if not agreement.finalized:
        return error(
            400,
            Problem("transfer.agreement_not_final", f"agreement '{msg.agreement_id}' is not finalized"),
            None,
            msg.consumer_pid,
        )
    asset = repo.get_asset(db, agreement.dataset_id)
    formats = asset.formats if asset else ("HttpData-PULL",)
    if msg.format not in formats:
        return error(
            400,
            Problem(
                "transfer.unsupported_format",
                f"dataset '{agreement.dataset_id}' is not available as {msg.format!r}; available: {', '.join(formats)}",
                "$.format",
            ),
            None,
            msg.consumer_pid,
        )
    if msg.format.endswith("-PUSH") and (msg.data_address is None or not msg.data_address.endpoint):
        return error(
            400,
            Problem("transfer.no_destination", "a push transfer needs a dataAddress with an endpoint", "$.dataAddress"),
            None,
            msg.consumer_pid,
        )
    outcome = machine.receive(Role.PROVIDER, None, M.REQUEST)
    assert not isinstance(outcome, Refusal)
    pid = env.new_pid()
    now = env.now()
    tp = Transfer(
        id=pid,
        role=Role.PROVIDER,
        state=outcome.target,
        peer_id=peer.participant_id,
        peer_address=msg.callback_address.rstrip("/"),
        agreement_id=msg.agreement_id,
        format=msg.format,
        provider_pid=pid,
        consumer_pid=msg.consumer_pid,
        data_address=msg.data_address.to_node() if msg.data_address else None,
        claims=peer.claims,
        created_at=now,
        updated_at=now,
    )
    tp = dataclasses.replace(tp, pending=_next_step(env, tp, M.REQUEST, "start"))
    repo.save_transfer(db, tp)
    repo.append_history(
        db,
        KIND,
        pid,
        now,
        None,
        str(tp.state),
        "received TransferRequestMessage",
        None,
        {"agreement": msg.agreement_id, "format": msg.format},
    )
    _received(db, env, tp, body, M.REQUEST)
    return ack(tp, 201, wake=tp.pending is not None)


def receive_start(
    db: Database, env: StepEnv, peer: Peer, msg: TransferStartMessage, body: Mapping[str, Any], path_pid: str
) -> Reply:
    tp = _lookup(db, path_pid, peer, msg.provider_pid, msg.consumer_pid)
    if tp is None:
        return not_found(path_pid, msg.provider_pid, msg.consumer_pid)
    outcome = machine.receive(tp.role, tp.state, M.START)
    if isinstance(outcome, Refusal):
        return error(400, outcome.problem, tp.provider_pid, tp.consumer_pid)
    _received(db, env, tp, body, M.START)
    if tp.role == Role.PROVIDER:  # the consumer resumes a suspended transfer: the agreement must still allow it
        verdict = admission(db, env, tp)
        if not verdict.permitted:
            note(
                db,
                env,
                tp,
                "resume refused by the agreement's policy",
                verdict.reason,
                {"trace": verdict.trace, "explanation": verdict.explanation},
            )
            return error(
                400,
                Problem("policy.refused", f"the agreement no longer permits this transfer: {verdict.reason}"),
                tp.provider_pid,
                tp.consumer_pid,
            )
        address = env.dataplane.resume(db, tp) if env.dataplane is not None else None
        tp = transition(
            db,
            env,
            tp,
            outcome.target,
            "received TransferStartMessage (resume)",
            None,
            {"trace": verdict.trace},
            data_address=address or tp.data_address,
        )
    else:
        address = msg.data_address.to_node() if msg.data_address else tp.data_address
        tp = transition(
            db,
            env,
            tp,
            outcome.target,
            "received TransferStartMessage",
            None,
            {"endpoint": msg.data_address.endpoint if msg.data_address else None},
            data_address=address,
            provider_pid=tp.provider_pid or msg.provider_pid,
        )
    tp = _set_pending(db, tp, _next_step(env, tp, M.START, None))
    if env.dataplane is not None:
        env.dataplane.after_change(tp)
    return ack(tp, wake=tp.pending is not None)


def _simple(message: M, cause: str) -> Any:
    def receive(db: Database, env: StepEnv, peer: Peer, msg: Any, body: Mapping[str, Any], path_pid: str) -> Reply:
        tp = _lookup(db, path_pid, peer, msg.provider_pid, msg.consumer_pid)
        if tp is None:
            return not_found(path_pid, msg.provider_pid, msg.consumer_pid)
        outcome = machine.receive(tp.role, tp.state, message)
        if isinstance(outcome, Refusal):
            return error(400, outcome.problem, tp.provider_pid, tp.consumer_pid)
        if outcome.repeated:
            return ack(tp)
        _received(db, env, tp, body, message)
        reason = None
        detail: dict[str, Any] = {}
        if getattr(msg, "reason", None) or getattr(msg, "code", None):
            reason = _peer_reason(f"the peer's {cause}", msg.code, msg.reason)
            detail = {"code": msg.code, "reason": list(msg.reason)}
        if outcome.target in (S.TERMINATED, S.COMPLETED):
            repo.outbox_drop_process(db, tp.id)
        if env.dataplane is not None and message == M.COMPLETION:
            detail.update(env.dataplane.completed_by_peer(db, tp) or {})
        tp = transition(
            db,
            env,
            tp,
            outcome.target,
            f"received {message.value}",
            reason,
            detail or None,
            **({"reason": reason} if reason and outcome.target == S.TERMINATED else {}),
        )
        tp = _set_pending(db, tp, _next_step(env, tp, message, None))
        if env.dataplane is not None:
            env.dataplane.after_change(tp)
        return ack(tp, wake=tp.pending is not None)

    return receive


receive_completion = _simple(M.COMPLETION, "completion")
receive_suspension = _simple(M.SUSPENSION, "suspension")
receive_termination = _simple(M.TERMINATION, "termination")


# --- policy at transfer time ------------------------------------------------------------------------------------


def admission(db: Database, env: StepEnv, tp: Transfer, first_start: bool = False) -> Verdict:
    """Does the agreement still permit this transfer now (time, use count, the peer's credentials)?

    The use count is the number of transfers started under the agreement before this one: when this transfer
    is about to start for the first time it is not among them yet; when it resumes or is pulled, it is."""
    agreement = repo.get_agreement(db, tp.agreement_id)
    if agreement is None:
        return Verdict(False, (f"agreement '{tp.agreement_id}' is unknown",))
    started = repo.count_transfers_started(db, agreement.id, "provider")
    negotiation = repo.get_negotiation(db, agreement.negotiation_id)
    usage = UsageContext(
        now=env.now(),
        agreement_time=agreement.concluded_at,
        use_count=started if first_start else max(0, started - 1),
        purpose=negotiation.purpose if negotiation else None,
    )
    claims = claims_codec.from_json(tp.claims, tp.peer_id, env.now())
    verdict = env.decisions.transfer(agreement.policy, claims, usage)
    env.evidence(
        db,
        "policy.decided",
        process_id=tp.id,
        peer=tp.peer_id,
        subject=verdict.trace,
        data={"stage": "transfer", "permitted": verdict.permitted, "reasons": list(verdict.reasons)},
    )
    return verdict


# --- our moves ------------------------------------------------------------------------------------------------


def perform(db: Database, env: StepEnv, pid: str) -> bool:
    tp = repo.get_transfer(db, pid)
    if tp is None or tp.pending is None or tp.is_terminal:
        return False
    step, _, argument = tp.pending.partition(":")
    tp = _set_pending(db, tp, None)
    handler = _STEPS.get(step)
    if handler is None:
        _terminate(db, env, tp, f"internal: unknown step '{step}'")
        return False
    try:
        handler(db, env, tp, argument)
    except ConnectorError as exc:
        note(db, env, tp, f"step '{step}' not taken", exc.reason)
    current = repo.get_transfer(db, pid)
    if env.dataplane is not None and current is not None:
        env.dataplane.after_change(current)
    return bool(current and current.pending and not current.is_terminal)


def _url(tp: Transfer, action: str) -> str:
    peer_pid = tp.consumer_pid if tp.role == Role.PROVIDER else tp.provider_pid
    return f"{tp.peer_address}/transfers/{peer_pid}/{action}"


def _step_start(db: Database, env: StepEnv, tp: Transfer, _: str) -> None:
    first = tp.state == S.REQUESTED
    if env.script is None:
        verdict = admission(db, env, tp, first_start=first)
        note(
            db,
            env,
            tp,
            "transfer policy decided",
            verdict.reason,
            {"permitted": verdict.permitted, "trace": verdict.trace, "explanation": verdict.explanation},
        )
        if not verdict.permitted:
            _terminate(
                db, env, tp, f"the agreement does not permit this transfer: {verdict.reason}", code="policy.refused"
            )
            return
    address = None
    if env.dataplane is not None:
        address = env.dataplane.start(db, tp) if first else env.dataplane.resume(db, tp)
    from connector.dsp.messages import DataAddress

    body = TransferStartMessage(
        provider_pid=tp.provider_pid or tp.id,
        consumer_pid=tp.consumer_pid or "",
        data_address=DataAddress.from_node(address) if address else None,
    ).to_json()
    send(db, env, tp, M.START, body, _url(tp, "start"), data_address=address or tp.data_address)


def _step_complete(db: Database, env: StepEnv, tp: Transfer, _: str) -> None:
    body = TransferCompletionMessage(provider_pid=tp.provider_pid or "", consumer_pid=tp.consumer_pid or "").to_json()
    send(db, env, tp, M.COMPLETION, body, _url(tp, "completion"))


def _step_suspend(db: Database, env: StepEnv, tp: Transfer, argument: str) -> None:
    reason = argument or "suspended by this participant"
    body = TransferSuspensionMessage(
        provider_pid=tp.provider_pid or "", consumer_pid=tp.consumer_pid or "", code="suspended", reason=(reason,)
    ).to_json()
    send(db, env, tp, M.SUSPENSION, body, _url(tp, "suspension"), reason)


def _step_terminate(db: Database, env: StepEnv, tp: Transfer, argument: str) -> None:
    _terminate(db, env, tp, argument or "terminated by this participant")


def _terminate(db: Database, env: StepEnv, tp: Transfer, reason: str, code: str = "terminated") -> None:
    repo.outbox_drop_process(db, tp.id)
    if tp.provider_pid and tp.consumer_pid:
        body = TransferTerminationMessage(
            provider_pid=tp.provider_pid, consumer_pid=tp.consumer_pid, code=code, reason=(reason,)
        ).to_json()
        try:
            send(db, env, tp, M.TERMINATION, body, _url(tp, "termination"), reason, reason=reason)
            return
        except ConnectorError:
            pass
    transition(db, env, tp, S.TERMINATED, "terminated", reason, reason=reason)


_STEPS = {
    "start": _step_start,
    "complete": _step_complete,
    "suspend": _step_suspend,
    "terminate": _step_terminate,
}


# --- commands ---------------------------------------------------------------------------------------------------


def start(
    db: Database,
    env: StepEnv,
    agreement_id: str,
    format: str,
    data_destination: Mapping[str, Any] | None = None,
    provider_id: str | None = None,
    provider_address: str | None = None,
) -> Transfer:
    """Consumer: request a transfer under one of our agreements (or, for conformance tests, a given provider)."""
    agreement = repo.get_agreement(db, agreement_id)
    if agreement is not None:
        if agreement.consumer_id != env.participant_id:
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
    pid = env.new_pid()
    if format.endswith("-PUSH") and not data_destination and env.dataplane is not None:
        # Our own data listener receives the push, with a token the data plane issues for this transfer.
        data_destination = env.dataplane.push_destination(db, pid, agreement_id)
    if format.endswith("-PUSH") and not data_destination:
        raise ConnectorError("transfer.no_destination", "a push transfer needs a destination (dataDestination)")
    from connector.dsp.messages import DataAddress

    now = env.now()
    message = TransferRequestMessage(
        consumer_pid=pid,
        agreement_id=agreement_id,
        format=format,
        callback_address=env.callback_url,
        data_address=DataAddress.from_node(dict(data_destination)) if data_destination else None,
    )
    body = message.to_json()
    tp = Transfer(
        id=pid,
        role=Role.CONSUMER,
        state=S.REQUESTED,
        peer_id=provider_id,
        peer_address=provider_address.rstrip("/"),
        agreement_id=agreement_id,
        format=format,
        consumer_pid=pid,
        data_address=dict(data_destination) if data_destination else None,
        created_at=now,
        updated_at=now,
    )
    repo.save_transfer(db, tp)
    not_before = now + timedelta(seconds=env.message_spacing) if env.message_spacing > 0 else None
    url = f"{tp.peer_address}/transfers/request"
    repo.enqueue(
        db,
        KIND,
        pid,
        provider_id,
        url,
        message.TYPE,
        body,
        now,
        now + timedelta(seconds=env.delivery_deadline),
        not_before,
    )
    repo.append_history(
        db,
        KIND,
        pid,
        now,
        None,
        str(S.REQUESTED),
        "sent TransferRequestMessage",
        None,
        {"agreement": agreement_id, "format": format},
    )
    env.evidence(
        db, "dsp.sent", process_id=pid, peer=provider_id, subject=body, data={"type": message.TYPE, "url": url}
    )
    return tp


def command(db: Database, env: StepEnv, pid: str, action: str, reason: str | None = None) -> Transfer:
    tp = repo.get_transfer(db, pid)
    if tp is None:
        raise ConnectorError("transfer.not_found", f"no transfer '{pid}'")
    if tp.is_terminal:
        raise ConnectorError("transfer.invalid_state", f"transfer '{pid}' is already {tp.state}")
    if action == "terminate":
        _terminate(db, env, tp, reason or "terminated by this participant")
    elif action == "suspend":
        _step_suspend(db, env, tp, reason or "")
    elif action == "complete":
        if env.dataplane is not None:
            env.dataplane.before_complete(db, tp)  # a consumer completes only once the data's seal verified
        _step_complete(db, env, tp, "")
    elif action == "resume":
        if tp.state != S.SUSPENDED:
            raise ConnectorError("transfer.invalid_state", f"only a SUSPENDED transfer can be resumed, not {tp.state}")
        if tp.role == Role.PROVIDER:
            _step_start(db, env, tp, "")
        else:
            body = TransferStartMessage(provider_pid=tp.provider_pid or "", consumer_pid=tp.id).to_json()
            send(db, env, tp, M.START, body, _url(tp, "start"))
    else:
        raise ConnectorError("transfer.bad_command", f"unknown action '{action}'")
    current = repo.get_transfer(db, pid)
    assert current is not None
    if env.dataplane is not None:
        env.dataplane.after_change(current)
    return current


# --- delivery outcomes ------------------------------------------------------------------------------------------


def delivered(db: Database, env: StepEnv, entry: OutboxEntry, response: Any) -> bool:
    tp = repo.get_transfer(db, entry.process_id)
    repo.outbox_done(db, entry.id)
    if tp is None:
        return False
    if entry.message_type == "TransferRequestMessage" and tp.role == Role.CONSUMER and tp.provider_pid is None:
        provider_pid = response.get("providerPid") if isinstance(response, dict) else None
        if not isinstance(provider_pid, str) or not provider_pid:
            transition(
                db,
                env,
                tp,
                S.TERMINATED,
                "delivery failed",
                "the provider's answer to our TransferRequestMessage names no providerPid",
            )
            return False
        tp = dataclasses.replace(tp, provider_pid=provider_pid, updated_at=env.now())
        repo.save_transfer(db, tp)
    note(db, env, tp, f"delivered {entry.message_type}")
    step = scripted_step_after_delivery(db, env, tp, entry.message_type)
    if step:
        _set_pending(db, tp, step)
        return True
    return False


def delivery_failed(db: Database, env: StepEnv, entry: OutboxEntry, reason: str) -> None:
    tp = repo.get_transfer(db, entry.process_id)
    repo.outbox_drop_process(db, entry.process_id)
    if tp is None or tp.is_terminal:
        return
    tp = transition(db, env, tp, S.TERMINATED, "delivery failed", reason, reason=reason)
    if env.dataplane is not None:
        env.dataplane.after_change(tp)


def agreement_of(db: Database, tp: Transfer) -> Agreement | None:
    return repo.get_agreement(db, tp.agreement_id)
