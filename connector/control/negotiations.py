"""Contract negotiation, both roles: messages received from peers, our own moves, and commands from users.

Every function runs inside one store transaction (see steps.py). Received messages are checked against the
state machine and answered at once; what our side owes next (decide, agree, verify, finalize...) is recorded as
the record's `pending` step and performed right after the commit by the engine, so the acknowledgement never
waits for a decision and a crash in between loses nothing: the pending step is still there after a restart.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.control import claims_codec
from connector.control.decisions import OfferedPolicy, rules_of
from connector.control.steps import StepEnv, note, scripted_step_after_delivery, send, transition
from connector.dsp import negotiation_machine as machine
from connector.dsp.messages import (
    ContractAgreementMessage,
    ContractAgreementVerificationMessage,
    ContractNegotiation,
    ContractNegotiationError,
    ContractNegotiationEventMessage,
    ContractNegotiationTerminationMessage,
    ContractOfferMessage,
    ContractRequestMessage,
)
from connector.dsp.process_machine import Refusal
from connector.dsp.vocabulary import NegotiationEvent, Role
from connector.dsp.vocabulary import NegotiationMessage as M
from connector.dsp.vocabulary import NegotiationState as S
from connector.errors import ConnectorError, Problem
from connector.records.columns import iso
from connector.records.processes import Agreement, Negotiation, OutboxEntry
from connector.store.interface import Tx as Database
from connector.store.sql import processes as repo

KIND = "negotiation"


@dataclass(frozen=True)
class Peer:
    """The authenticated caller of a protocol request."""

    participant_id: str
    claims: Mapping[str, Any] | None = None  # claims_codec JSON of what was verified


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    process_id: str | None = None
    wake: bool = False  # a pending step or an outgoing message waits for the engine


# --- replies ----------------------------------------------------------------------------------------------------


def ack(neg: Negotiation, status: int = 200, wake: bool = False) -> Reply:
    body = ContractNegotiation(
        provider_pid=neg.provider_pid or "", consumer_pid=neg.consumer_pid or "", state=neg.state
    ).to_json()
    return Reply(status, body, neg.id, wake)


def error(status: int, problem: Problem, provider_pid: str | None, consumer_pid: str | None) -> Reply:
    body = ContractNegotiationError.from_problem(
        problem, provider_pid=provider_pid or "", consumer_pid=consumer_pid or ""
    ).to_json()
    return Reply(status, body)


def not_found(pid: str | None, provider_pid: str | None = None, consumer_pid: str | None = None) -> Reply:
    problem = Problem("dsp.negotiation.not_found", f"no contract negotiation '{pid}' exists for this participant")
    return error(404, problem, provider_pid, consumer_pid)


def _refused(outcome: Refusal, neg: Negotiation) -> Reply:
    return error(400, outcome.problem, neg.provider_pid, neg.consumer_pid)


# --- lookups ----------------------------------------------------------------------------------------------------


def _own(db: Database, pid: str, peer: Peer, role: Role) -> Negotiation | None:
    """Our negotiation `pid` in `role` with this peer; anything else is 'not found' (DSP: unauthorised = 404)."""
    neg = repo.get_negotiation(db, pid)
    if neg is None or neg.role != role or neg.peer_id != peer.participant_id:
        return None
    return neg


def get(db: Database, pid: str, peer: Peer) -> Reply:
    neg = repo.get_negotiation(db, pid)
    if neg is None or neg.peer_id != peer.participant_id:
        return not_found(pid)
    return ack(neg)


def _received(db: Database, env: StepEnv, neg: Negotiation, body: Mapping[str, Any], message: str) -> None:
    env.evidence(db, "dsp.received", process_id=neg.id, peer=neg.peer_id, subject=dict(body), data={"type": message})


def _next_step(env: StepEnv, neg: Negotiation, message: str, default: str | None) -> str | None:
    if env.script is not None:
        override = env.script.on_received(neg, message)
        if override is not Ellipsis:
            return override  # type: ignore[return-value]
    return default


def _dataset_of(db: Database, offer: Mapping[str, Any]) -> str | None:
    target = offer.get("target")
    if isinstance(target, str) and target:
        return target
    offer_id = offer.get("@id")
    known = repo.get_offer(db, offer_id) if isinstance(offer_id, str) else None
    return known.asset_id if known else None


# --- provider side: messages from the consumer ------------------------------------------------------------------


def receive_request(
    db: Database, env: StepEnv, peer: Peer, msg: ContractRequestMessage, body: Mapping[str, Any], path_pid: str | None
) -> Reply:
    if msg.is_initial:
        if path_pid is not None:
            return error(
                400,
                Problem(
                    "dsp.negotiation.misrouted",
                    "an initial ContractRequestMessage (with callbackAddress) goes to /negotiations/request",
                ),
                path_pid,
                msg.consumer_pid,
            )
        existing = repo.find_provider_negotiation(db, peer.participant_id, msg.consumer_pid)
        if existing is not None:  # the consumer retried a request whose answer it lost
            return ack(existing, 201)
        if not _is_url(msg.callback_address):
            return error(
                400,
                Problem("dsp.invalid_message", "callbackAddress must be an http(s) URL", "$.callbackAddress"),
                None,
                msg.consumer_pid,
            )
        outcome = machine.receive(Role.PROVIDER, None, M.REQUEST)
        assert not isinstance(outcome, Refusal)
        pid = env.new_pid()
        now = env.now()
        neg = Negotiation(
            id=pid,
            role=Role.PROVIDER,
            state=outcome.target,
            peer_id=peer.participant_id,
            peer_address=msg.callback_address.rstrip("/"),
            provider_pid=pid,
            consumer_pid=msg.consumer_pid,
            dataset_id=_dataset_of(db, msg.offer),
            offer_id=msg.offer.get("@id"),
            offer=dict(msg.offer),
            purpose=_purpose(msg),
            claims=peer.claims,
            created_at=now,
            updated_at=now,
        )
        neg = dataclasses.replace(neg, pending=_next_step(env, neg, f"{M.REQUEST.value}:initial", "decide"))
        repo.save_negotiation(db, neg)
        repo.append_history(
            db,
            KIND,
            pid,
            now,
            None,
            str(neg.state),
            "received ContractRequestMessage",
            None,
            {"offer": neg.offer_id, "dataset": neg.dataset_id},
        )
        _received(db, env, neg, body, M.REQUEST)
        return ack(neg, 201, wake=neg.pending is not None)

    neg = _own(db, path_pid or msg.provider_pid or "", peer, Role.PROVIDER)
    if neg is None or msg.provider_pid != neg.provider_pid or msg.consumer_pid != neg.consumer_pid:
        return not_found(path_pid, msg.provider_pid, msg.consumer_pid)
    outcome = machine.receive(Role.PROVIDER, neg.state, M.REQUEST)
    if isinstance(outcome, Refusal):
        return _refused(outcome, neg)
    _received(db, env, neg, body, M.REQUEST)
    neg = transition(
        db,
        env,
        neg,
        outcome.target,
        "received ContractRequestMessage (counter-offer)",
        offer=dict(msg.offer),
        offer_id=msg.offer.get("@id"),
        purpose=_purpose(msg) or neg.purpose,
    )
    neg = _set_pending(db, neg, _next_step(env, neg, M.REQUEST, "decide"))
    return ack(neg, wake=neg.pending is not None)


def receive_event(
    db: Database, env: StepEnv, peer: Peer, msg: ContractNegotiationEventMessage, body: Mapping[str, Any], path_pid: str
) -> Reply:
    neg = repo.get_negotiation(db, path_pid)
    if neg is None or neg.peer_id != peer.participant_id:
        return not_found(path_pid, msg.provider_pid, msg.consumer_pid)
    if not _pids_match(neg, msg.provider_pid, msg.consumer_pid):
        return not_found(path_pid, msg.provider_pid, msg.consumer_pid)
    kind = msg.kind
    outcome = machine.receive(neg.role, neg.state, kind)
    if isinstance(outcome, Refusal):
        return _refused(outcome, neg)
    _received(db, env, neg, body, kind)
    if kind == M.ACCEPTED:
        neg = transition(db, env, neg, outcome.target, "received ContractNegotiationEventMessage (ACCEPTED)")
        neg = _set_pending(db, neg, _next_step(env, neg, kind, "agree"))
    else:
        neg = transition(db, env, neg, outcome.target, "received ContractNegotiationEventMessage (FINALIZED)")
        _finalize_agreement(db, neg)
        neg = _set_pending(db, neg, _next_step(env, neg, kind, None))
    return ack(neg, wake=neg.pending is not None)


def receive_verification(
    db: Database,
    env: StepEnv,
    peer: Peer,
    msg: ContractAgreementVerificationMessage,
    body: Mapping[str, Any],
    path_pid: str,
) -> Reply:
    neg = _own(db, path_pid, peer, Role.PROVIDER)
    if neg is None or not _pids_match(neg, msg.provider_pid, msg.consumer_pid):
        return not_found(path_pid, msg.provider_pid, msg.consumer_pid)
    outcome = machine.receive(Role.PROVIDER, neg.state, M.VERIFICATION)
    if isinstance(outcome, Refusal):
        return _refused(outcome, neg)
    _received(db, env, neg, body, M.VERIFICATION)
    if env.signer is not None:
        problem = env.signer.check_countersignature(db, neg, msg)
        if problem is not None:
            neg = transition(db, env, neg, outcome.target, "received ContractAgreementVerificationMessage")
            neg = _set_pending(db, neg, "terminate:" + problem.reason)
            return ack(neg, wake=True)
    neg = transition(db, env, neg, outcome.target, "received ContractAgreementVerificationMessage")
    neg = _set_pending(db, neg, _next_step(env, neg, M.VERIFICATION, "finalize"))
    return ack(neg, wake=neg.pending is not None)


def receive_termination(
    db: Database,
    env: StepEnv,
    peer: Peer,
    msg: ContractNegotiationTerminationMessage,
    body: Mapping[str, Any],
    path_pid: str,
) -> Reply:
    neg = repo.get_negotiation(db, path_pid)
    if neg is None or neg.peer_id != peer.participant_id or not _pids_match(neg, msg.provider_pid, msg.consumer_pid):
        return not_found(path_pid, msg.provider_pid, msg.consumer_pid)
    outcome = machine.receive(neg.role, neg.state, M.TERMINATION)
    if isinstance(outcome, Refusal):
        return _refused(outcome, neg)
    if outcome.repeated:
        return ack(neg)
    _received(db, env, neg, body, M.TERMINATION)
    reason = _peer_reason("the peer terminated the negotiation", msg.code, msg.reason)
    dropped = repo.outbox_drop_process(db, neg.id)
    neg = transition(
        db,
        env,
        neg,
        outcome.target,
        "received ContractNegotiationTerminationMessage",
        reason,
        {"code": msg.code, "reason": list(msg.reason), "undelivered_messages_dropped": dropped},
        reason=reason,
    )
    return ack(neg)


# --- consumer side: messages from the provider ------------------------------------------------------------------


def receive_offer(
    db: Database, env: StepEnv, peer: Peer, msg: ContractOfferMessage, body: Mapping[str, Any], path_pid: str | None
) -> Reply:
    if msg.is_initial:
        if path_pid is not None:
            return error(
                400,
                Problem("dsp.negotiation.misrouted", "an initial ContractOfferMessage goes to /negotiations/offers"),
                msg.provider_pid,
                path_pid,
            )
        existing = repo.find_consumer_negotiation(db, peer.participant_id, msg.provider_pid)
        if existing is not None:
            return ack(existing, 201)
        if not _is_url(msg.callback_address):
            return error(
                400,
                Problem("dsp.invalid_message", "callbackAddress must be an http(s) URL", "$.callbackAddress"),
                msg.provider_pid,
                None,
            )
        outcome = machine.receive(Role.CONSUMER, None, M.OFFER)
        assert not isinstance(outcome, Refusal)
        pid = env.new_pid()
        now = env.now()
        neg = Negotiation(
            id=pid,
            role=Role.CONSUMER,
            state=outcome.target,
            peer_id=peer.participant_id,
            peer_address=msg.callback_address.rstrip("/"),
            provider_pid=msg.provider_pid,
            consumer_pid=pid,
            dataset_id=msg.offer.get("target"),
            offer_id=msg.offer.get("@id"),
            offer=dict(msg.offer),
            claims=peer.claims,
            created_at=now,
            updated_at=now,
        )
        neg = dataclasses.replace(neg, pending=_next_step(env, neg, f"{M.OFFER.value}:initial", "consider-offer"))
        repo.save_negotiation(db, neg)
        repo.append_history(
            db,
            KIND,
            pid,
            now,
            None,
            str(neg.state),
            "received ContractOfferMessage",
            "the provider offered a contract",
            {"offer": neg.offer_id},
        )
        _received(db, env, neg, body, M.OFFER)
        return ack(neg, 201, wake=neg.pending is not None)

    neg = _own(db, path_pid or msg.consumer_pid or "", peer, Role.CONSUMER)
    if neg is None or not _pids_match(neg, msg.provider_pid, msg.consumer_pid):
        return not_found(path_pid, msg.provider_pid, msg.consumer_pid)
    outcome = machine.receive(Role.CONSUMER, neg.state, M.OFFER)
    if isinstance(outcome, Refusal):
        return _refused(outcome, neg)
    _received(db, env, neg, body, M.OFFER)
    neg = transition(
        db,
        env,
        neg,
        outcome.target,
        "received ContractOfferMessage",
        offer=dict(msg.offer),
        offer_id=msg.offer.get("@id"),
        provider_pid=neg.provider_pid or msg.provider_pid,
    )
    neg = _set_pending(db, neg, _next_step(env, neg, M.OFFER, "consider-offer"))
    return ack(neg, wake=neg.pending is not None)


def receive_agreement(
    db: Database, env: StepEnv, peer: Peer, msg: ContractAgreementMessage, body: Mapping[str, Any], path_pid: str
) -> Reply:
    neg = _own(db, path_pid, peer, Role.CONSUMER)
    if neg is None or not _pids_match(neg, msg.provider_pid, msg.consumer_pid):
        return not_found(path_pid, msg.provider_pid, msg.consumer_pid)
    outcome = machine.receive(Role.CONSUMER, neg.state, M.AGREEMENT)
    if isinstance(outcome, Refusal):
        return _refused(outcome, neg)
    agreement = dict(msg.agreement)
    agreement_id = agreement.get("@id")
    if not isinstance(agreement_id, str) or not agreement_id:
        return error(
            400,
            Problem("dsp.invalid_message", "the agreement has no @id", "$.agreement['@id']"),
            neg.provider_pid,
            neg.consumer_pid,
        )
    existing = repo.get_agreement(db, agreement_id)
    if existing is not None and existing.negotiation_id != neg.id:
        return error(
            400,
            Problem(
                "dsp.negotiation.duplicate_agreement",
                f"agreement '{agreement_id}' already belongs to another negotiation",
            ),
            neg.provider_pid,
            neg.consumer_pid,
        )
    _received(db, env, neg, body, M.AGREEMENT)
    repo.save_agreement(
        db,
        Agreement(
            id=agreement_id,
            negotiation_id=neg.id,
            provider_id=neg.peer_id,
            consumer_id=env.participant_id,
            dataset_id=str(agreement.get("target") or neg.dataset_id or ""),
            policy=agreement,
            concluded_at=_timestamp(agreement.get("timestamp"), env.now()),
            provider_address=neg.peer_address,
        ),
    )
    detail: dict[str, Any] = {"agreement": agreement_id}
    if env.signer is not None:
        detail.update(env.signer.receive_agreement(db, neg, agreement, msg))
    # The provider's claims as verified now: the countersignature covers the credentials they came from.
    neg = transition(
        db,
        env,
        neg,
        outcome.target,
        "received ContractAgreementMessage",
        None,
        detail,
        agreement_id=agreement_id,
        provider_pid=neg.provider_pid or msg.provider_pid,
        claims=peer.claims or neg.claims,
    )
    neg = _set_pending(db, neg, _next_step(env, neg, M.AGREEMENT, "verify"))
    return ack(neg, wake=neg.pending is not None)


# --- our moves (pending steps) ----------------------------------------------------------------------------------


def perform(db: Database, env: StepEnv, pid: str) -> bool:
    """Do the step `pid` owes, if any; returns True if another step became pending."""
    neg = repo.get_negotiation(db, pid)
    if neg is None or neg.pending is None or neg.is_terminal:
        return False
    step, _, argument = neg.pending.partition(":")
    neg = _set_pending(db, neg, None)
    handler = _STEPS.get(step)
    if handler is None:
        _terminate(db, env, neg, f"internal: unknown step '{step}'")
        return False
    try:
        handler(db, env, neg, argument)
    except ConnectorError as exc:  # the machine or a check refused our own move: say so, do not crash
        note(db, env, neg, f"step '{step}' not taken", exc.reason)
    return repo.has_open_step(db, KIND, pid)


def _step_decide(db: Database, env: StepEnv, neg: Negotiation, _: str) -> None:
    offered = offered_policies(db, neg.dataset_id)
    claims = claims_codec.from_json(neg.claims, neg.peer_id, env.now())
    verdict = env.decisions.contract(offered, neg.offer or {}, neg.dataset_id, claims, env.now(), neg.purpose)
    env.evidence(
        db,
        "policy.decided",
        process_id=neg.id,
        peer=neg.peer_id,
        subject=verdict.trace,
        data={"stage": "negotiation", "permitted": verdict.permitted, "reasons": list(verdict.reasons)},
    )
    note(
        db,
        env,
        neg,
        "contract policy decided",
        verdict.reason,
        {
            "permitted": verdict.permitted,
            "trace": verdict.trace,
            "explanation": verdict.explanation,
            "matchedOffer": verdict.matched_offer_id,
        },
    )
    if not verdict.permitted:
        _terminate(db, env, neg, f"contract refused: {verdict.reason}", code="policy.refused")
        return
    _agree(db, env, neg, matched_offer=verdict.matched_offer_id)


def _step_agree(db: Database, env: StepEnv, neg: Negotiation, _: str) -> None:
    if neg.state == S.ACCEPTED and env.script is None:
        # The consumer accepted our own offer: it still has to be one we make to this peer now.
        offered = offered_policies(db, neg.dataset_id)
        claims = claims_codec.from_json(neg.claims, neg.peer_id, env.now())
        verdict = env.decisions.contract(offered, neg.offer or {}, neg.dataset_id, claims, env.now(), neg.purpose)
        note(
            db,
            env,
            neg,
            "contract policy decided",
            verdict.reason,
            {"permitted": verdict.permitted, "trace": verdict.trace, "explanation": verdict.explanation},
        )
        if not verdict.permitted:
            _terminate(db, env, neg, f"contract refused: {verdict.reason}", code="policy.refused")
            return
    _agree(db, env, neg, matched_offer=neg.offer_id)


def _agree(db: Database, env: StepEnv, neg: Negotiation, matched_offer: str | None) -> None:
    now = env.now()
    terms = rules_of(neg.offer or {})
    agreement: dict[str, Any] = {
        "@id": env.new_pid(),
        "@type": "Agreement",
        **({"profile": neg.offer["profile"]} if neg.offer and "profile" in neg.offer else {}),
        "target": neg.dataset_id or (neg.offer or {}).get("target"),
        "assigner": env.participant_id,
        "assignee": neg.peer_id,
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **terms,
    }
    if not terms:
        agreement["permission"] = [{"action": "use"}]
    record = Agreement(
        id=agreement["@id"],
        negotiation_id=neg.id,
        provider_id=env.participant_id,
        consumer_id=neg.peer_id,
        dataset_id=str(agreement["target"]),
        policy=agreement,
        concluded_at=now.replace(microsecond=0),
    )
    repo.save_agreement(db, record)
    message = ContractAgreementMessage(
        provider_pid=neg.provider_pid or neg.id, consumer_pid=neg.consumer_pid or "", agreement=agreement
    )
    body = message.to_json()
    if env.signer is not None:
        body = env.signer.sign_agreement(db, neg, agreement, body)
    send(
        db,
        env,
        neg,
        M.AGREEMENT,
        body,
        f"{neg.peer_address}/negotiations/{neg.consumer_pid}/agreement",
        detail={"agreement": agreement["@id"], "matchedOffer": matched_offer},
        agreement_id=agreement["@id"],
    )


def _step_finalize(db: Database, env: StepEnv, neg: Negotiation, _: str) -> None:
    body = ContractNegotiationEventMessage(
        provider_pid=neg.provider_pid or neg.id,
        consumer_pid=neg.consumer_pid or "",
        event_type=NegotiationEvent.FINALIZED,
    ).to_json()
    neg = send(db, env, neg, M.FINALIZED, body, f"{neg.peer_address}/negotiations/{neg.consumer_pid}/events")
    _finalize_agreement(db, neg)


def _step_offer(db: Database, env: StepEnv, neg: Negotiation, _: str) -> None:
    """Provider counter-offer: the dataset's first offer, as we offer it (conformance profile)."""
    offered = offered_policies(db, neg.dataset_id)
    policy = dict(offered[0].policy) if offered else dict(neg.offer or {})
    offer = {
        **policy,
        "@id": offered[0].offer_id if offered else policy.get("@id", env.new_pid()),
        "@type": "Offer",
        "target": neg.dataset_id,
    }
    body = ContractOfferMessage(
        provider_pid=neg.provider_pid or neg.id, consumer_pid=neg.consumer_pid, offer=offer
    ).to_json()
    send(
        db,
        env,
        neg,
        M.OFFER,
        body,
        f"{neg.peer_address}/negotiations/{neg.consumer_pid}/offers",
        offer=offer,
        offer_id=offer["@id"],
    )


def _step_consider_offer(db: Database, env: StepEnv, neg: Negotiation, _: str) -> None:
    """Consumer: accept an offer that is what we asked for; anything else waits for a person."""
    if (
        neg.requested is not None
        and rules_of(neg.requested) == rules_of(neg.offer or {})
        and (neg.offer or {}).get("target") in (None, neg.dataset_id)
    ):
        _step_accept(db, env, neg, "")
        return
    note(
        db,
        env,
        neg,
        "offer awaits a decision",
        "the provider offers other terms than requested; accept, counter or terminate it via the management API",
    )


def _step_accept(db: Database, env: StepEnv, neg: Negotiation, _: str) -> None:
    body = ContractNegotiationEventMessage(
        provider_pid=neg.provider_pid or "", consumer_pid=neg.id, event_type=NegotiationEvent.ACCEPTED
    ).to_json()
    send(
        db,
        env,
        neg,
        M.ACCEPTED,
        body,
        f"{neg.peer_address}/negotiations/{neg.provider_pid}/events",
        requested=neg.offer,
    )


def _step_counter(db: Database, env: StepEnv, neg: Negotiation, argument: str) -> None:
    offer = dict(neg.offer or {})
    offer.setdefault("target", neg.dataset_id)
    body = ContractRequestMessage(consumer_pid=neg.id, provider_pid=neg.provider_pid, offer=offer).to_json()
    send(db, env, neg, M.REQUEST, body, f"{neg.peer_address}/negotiations/{neg.provider_pid}/request", requested=offer)


def _step_verify(db: Database, env: StepEnv, neg: Negotiation, _: str) -> None:
    agreement = repo.get_agreement(db, neg.agreement_id or "")
    if agreement is None:
        _terminate(db, env, neg, "internal: the agreement to verify is missing")
        return
    if env.script is None:
        verdict = env.decisions.agreement_acceptable(
            neg.requested or neg.offer or {}, agreement.policy, neg.peer_id, env.participant_id
        )
        note(
            db,
            env,
            neg,
            "agreement checked against the request",
            verdict.reason,
            {"permitted": verdict.permitted, "differences": list(verdict.reasons)},
        )
        if not verdict.permitted:
            _terminate(
                db, env, neg, f"the agreement is not what was requested: {verdict.reason}", code="agreement.mismatch"
            )
            return
        if env.signer is not None:
            problem = env.signer.check_agreement(db, neg, agreement)
            if problem is not None:
                _terminate(db, env, neg, problem.reason, code=problem.code)
                return
    body = ContractAgreementVerificationMessage(provider_pid=neg.provider_pid or "", consumer_pid=neg.id).to_json()
    if env.signer is not None:
        body = env.signer.countersign(db, neg, agreement, body)
    send(
        db, env, neg, M.VERIFICATION, body, f"{neg.peer_address}/negotiations/{neg.provider_pid}/agreement/verification"
    )


def _step_terminate(db: Database, env: StepEnv, neg: Negotiation, argument: str) -> None:
    _terminate(db, env, neg, argument or "terminated by this participant")


def _terminate(db: Database, env: StepEnv, neg: Negotiation, reason: str, code: str = "terminated") -> None:
    """End the negotiation and tell the peer why (when the peer already knows the process)."""
    repo.outbox_drop_process(db, neg.id)
    if neg.provider_pid and neg.consumer_pid:
        body = ContractNegotiationTerminationMessage(
            provider_pid=neg.provider_pid, consumer_pid=neg.consumer_pid, code=code, reason=(reason,)
        ).to_json()
        peer_pid = neg.consumer_pid if neg.role == Role.PROVIDER else neg.provider_pid
        try:
            send(
                db,
                env,
                neg,
                M.TERMINATION,
                body,
                f"{neg.peer_address}/negotiations/{peer_pid}/termination",
                reason,
                reason=reason,
            )
            return
        except ConnectorError:
            pass
    transition(db, env, neg, S.TERMINATED, "terminated", reason, reason=reason)


_STEPS = {
    "decide": _step_decide,
    "agree": _step_agree,
    "finalize": _step_finalize,
    "offer": _step_offer,
    "consider-offer": _step_consider_offer,
    "accept": _step_accept,
    "counter": _step_counter,
    "verify": _step_verify,
    "terminate": _step_terminate,
}


# --- commands from our own users --------------------------------------------------------------------------------


def start(
    db: Database,
    env: StepEnv,
    provider_id: str,
    provider_address: str,
    offer: Mapping[str, Any],
    dataset_id: str,
    purpose: str | None = None,
) -> Negotiation:
    """Consumer: ask a provider for a contract on `offer` (which must name its target dataset)."""
    pid = env.new_pid()
    now = env.now()
    offer = {**offer, "target": offer.get("target") or dataset_id}
    offer.setdefault("@type", "Offer")
    neg = Negotiation(
        id=pid,
        role=Role.CONSUMER,
        state=S.REQUESTED,
        peer_id=provider_id,
        peer_address=provider_address.rstrip("/"),
        consumer_pid=pid,
        dataset_id=dataset_id,
        offer_id=offer.get("@id"),
        offer=offer,
        requested=offer,
        purpose=purpose,
        created_at=now,
        updated_at=now,
    )
    message = ContractRequestMessage(
        consumer_pid=pid,
        offer=offer,
        callback_address=env.callback_url,
        extensions={"purpose": purpose} if purpose else {},
    )
    body = message.to_json()
    outcome = machine.send(Role.CONSUMER, None, M.REQUEST)
    assert not isinstance(outcome, Refusal)
    repo.save_negotiation(db, neg)
    from datetime import timedelta

    not_before = now + timedelta(seconds=env.message_spacing) if env.message_spacing > 0 else None
    repo.enqueue(
        db,
        KIND,
        pid,
        provider_id,
        f"{neg.peer_address}/negotiations/request",
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
        "sent ContractRequestMessage",
        None,
        {"offer": neg.offer_id, "dataset": dataset_id, "provider": provider_id},
    )
    env.evidence(
        db,
        "dsp.sent",
        process_id=pid,
        peer=provider_id,
        subject=body,
        data={"type": message.TYPE, "url": f"{neg.peer_address}/negotiations/request"},
    )
    return neg


def command(db: Database, env: StepEnv, pid: str, action: str, reason: str | None = None) -> Negotiation:
    """A user's decision on a negotiation: terminate, accept (an offer) or counter."""
    neg = repo.get_negotiation(db, pid)
    if neg is None:
        raise ConnectorError("negotiation.not_found", f"no negotiation '{pid}'")
    if neg.is_terminal:
        raise ConnectorError("negotiation.invalid_state", f"negotiation '{pid}' is already {neg.state}")
    if action == "terminate":
        _terminate(db, env, neg, reason or "terminated by this participant")
    elif action == "accept":
        if neg.role != Role.CONSUMER or neg.state != S.OFFERED:
            raise ConnectorError(
                "negotiation.invalid_state", "only an OFFERED negotiation of ours as consumer can be accepted"
            )
        _step_accept(db, env, neg, "")
    else:
        raise ConnectorError("negotiation.bad_command", f"unknown action '{action}'")
    current = repo.get_negotiation(db, pid)
    assert current is not None
    return current


# --- delivery outcomes ------------------------------------------------------------------------------------------


def delivered(db: Database, env: StepEnv, entry: OutboxEntry, response: Any) -> bool:
    """Our message reached the peer: note it, learn the provider's pid from an initial request's answer."""
    neg = repo.get_negotiation(db, entry.process_id)
    repo.outbox_done(db, entry.id)
    if neg is None:
        return False
    changes: dict[str, Any] = {}
    if entry.message_type == "ContractRequestMessage" and neg.role == Role.CONSUMER and neg.provider_pid is None:
        provider_pid = response.get("providerPid") if isinstance(response, dict) else None
        if not isinstance(provider_pid, str) or not provider_pid:
            _fail(db, env, neg, "the provider's answer to our ContractRequestMessage names no providerPid")
            return False
        changes["provider_pid"] = provider_pid
    if changes:
        neg = dataclasses.replace(neg, **changes, updated_at=env.now())
        repo.save_negotiation(db, neg)
    note(db, env, neg, f"delivered {entry.message_type}")
    step = scripted_step_after_delivery(db, env, neg, entry.message_type)
    if step:
        _set_pending(db, neg, step)
        return True
    return False


def delivery_failed(db: Database, env: StepEnv, entry: OutboxEntry, reason: str) -> None:
    """The peer refused our message, or stayed away past the deadline: the negotiation ends, with that reason."""
    neg = repo.get_negotiation(db, entry.process_id)
    repo.outbox_drop_process(db, entry.process_id)
    if neg is None or neg.is_terminal:
        return
    _fail(db, env, neg, reason)


def _fail(db: Database, env: StepEnv, neg: Negotiation, reason: str) -> None:
    transition(db, env, neg, S.TERMINATED, "delivery failed", reason, reason=reason)


# --- helpers ----------------------------------------------------------------------------------------------------


def offered_policies(db: Database, dataset_id: str | None) -> list[OfferedPolicy]:
    if not dataset_id:
        return []
    out = []
    for offer in repo.offers_for_asset(db, dataset_id):
        policy = repo.get_policy(db, offer.contract_policy_id)
        if policy is not None:
            out.append(OfferedPolicy(offer.id, offer.asset_id, policy.policy))
    return out


def _set_pending(db: Database, neg: Negotiation, step: str | None) -> Negotiation:
    """`neg` (as stored in this transaction) with another pending step."""
    if neg.pending == step:
        return neg
    repo.set_pending(db, KIND, neg.id, step)
    return dataclasses.replace(neg, pending=step)


def _finalize_agreement(db: Database, neg: Negotiation) -> None:
    if neg.agreement_id:
        agreement = repo.get_agreement(db, neg.agreement_id)
        if agreement is not None and not agreement.finalized:
            repo.save_agreement(db, dataclasses.replace(agreement, finalized=True))


def _pids_match(neg: Negotiation, provider_pid: str, consumer_pid: str) -> bool:
    # Our own pid must match; the peer's may still be unknown to us (its answer to our request is in flight).
    if neg.role == Role.PROVIDER:
        return provider_pid == neg.provider_pid and consumer_pid == neg.consumer_pid
    return consumer_pid == neg.consumer_pid and (neg.provider_pid is None or provider_pid == neg.provider_pid)


def _purpose(msg: ContractRequestMessage) -> str | None:
    value = msg.extensions.get("purpose") if msg.extensions else None
    return value if isinstance(value, str) and value else None


def _reason_text(reason: Any) -> str:
    if isinstance(reason, dict):  # e.g. {"message": "..."}, as some peers send
        for key in ("message", "reason", "description", "@value"):
            if isinstance(reason.get(key), str):
                return reason[key]
        return json.dumps(reason, sort_keys=True)
    return str(reason)


def _peer_reason(prefix: str, code: str | None, reasons: tuple[Any, ...]) -> str:
    text = "; ".join(_reason_text(r) for r in reasons if r) if reasons else ""
    parts = [prefix]
    if text:
        parts.append(text)
    if code:
        parts.append(f"(code {code})")
    return ": ".join(parts[:2]) + (" " + parts[2] if len(parts) > 2 else "")


def _timestamp(value: Any, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return default


def _is_url(value: Any) -> bool:
    return (
        isinstance(value, str) and (value.startswith("https://") or value.startswith("http://")) and len(value) < 2048
    )


__all__ = [
    "Peer",
    "Reply",
    "receive_request",
    "receive_offer",
    "receive_agreement",
    "receive_verification",
    "receive_event",
    "receive_termination",
    "get",
    "perform",
    "start",
    "command",
    "delivered",
    "delivery_failed",
    "offered_policies",
    "iso",
]
