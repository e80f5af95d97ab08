"""Contract negotiation, both roles, as pure steps: messages received from peers, our own moves, users' commands.

Each function takes the negotiation as loaded, the event and the facts the shell (apply.py) read for it, and
returns the `Outcome` to persist. A received message is checked against the state machine and answered at once;
what our side owes next (decide, agree, verify, finalize...) becomes the record's pending step, performed right
after the commit by the engine, so the acknowledgement never waits for a decision and a crash in between loses
nothing: the pending step is still there after a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.control import claims_codec, pending
from connector.control.decisions import rules_of
from connector.control.events import Received
from connector.control.facts import Facts
from connector.control.outcome import Countersign, Outcome, Reply, SignAgreement
from connector.control.pending import StepName
from connector.control.steps import (
    NEGOTIATION,
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
from connector.dsp import negotiation_machine as machine
from connector.dsp.process_machine import Transition, TransitionRefusal
from connector.dsp.vocabulary import NegotiationEvent, Role
from connector.dsp.vocabulary import NegotiationMessage as M
from connector.dsp.vocabulary import NegotiationState as S
from connector.errors import ConnectorError, Problem
from connector.policy.spelling import declare_purpose, wire_policy
from connector.records.definitions import OfferDefinition
from connector.records.processes import Agreement, Negotiation

if TYPE_CHECKING:  # the DSP messages load with the first one received or sent
    from connector.dsp.messages import ContractAgreementMessage, ContractOfferMessage, ContractRequestMessage

KIND = NEGOTIATION

# The role a message's process must be ours in (None: either); a process in the other role is 'not found'.
OUR_ROLE: Mapping[M, Role | None] = {
    M.REQUEST: Role.PROVIDER,
    M.VERIFICATION: Role.PROVIDER,
    M.OFFER: Role.CONSUMER,
    M.AGREEMENT: Role.CONSUMER,
}


# --- the peer starts a negotiation ----------------------------------------------------------------------------------


def initial_request(
    event: Received, ctx: StepContext, existing: Negotiation | None, known_offer: OfferDefinition | None
) -> Reply | Outcome:
    """Provider: a consumer's first ContractRequestMessage. `existing`: the negotiation this consumer pid already
    started with us; `known_offer`: our offer the request names, when the offer names no target."""
    msg: ContractRequestMessage = event.message
    if event.path_pid is not None:
        problem = Problem(
            "dsp.negotiation.misrouted",
            "an initial ContractRequestMessage (with callbackAddress) goes to /negotiations/request",
        )
        return KIND.error(400, problem, event.path_pid, msg.consumer_pid)
    answered = first_message_answered(KIND, event, existing, ctx)
    if answered is not None:
        return answered
    allowed = machine.receive(Role.PROVIDER, None, M.REQUEST)
    assert not isinstance(allowed, TransitionRefusal)
    pid = ctx.new_id()
    target = msg.offer.get("target")
    neg = Negotiation(
        id=pid,
        role=Role.PROVIDER,
        state=allowed.target,
        peer_id=event.peer.participant_id,
        peer_address=str(msg.callback_address).rstrip("/"),
        provider_pid=pid,
        consumer_pid=msg.consumer_pid,
        dataset_id=target if isinstance(target, str) and target else (known_offer.asset_id if known_offer else None),
        offer_id=msg.offer.get("@id"),
        offer=dict(msg.offer),
        purpose=_purpose(msg),
        claims=event.peer.claims,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    detail = {"offer": neg.offer_id, "dataset": neg.dataset_id}
    return created(
        neg, event, ctx, "received ContractRequestMessage", None, detail, f"{M.REQUEST.value}:initial", pending.DECIDE
    )


def initial_offer(event: Received, ctx: StepContext, existing: Negotiation | None) -> Reply | Outcome:
    """Consumer: a provider's first ContractOfferMessage. `existing`: the negotiation this provider pid already
    started with us."""
    msg: ContractOfferMessage = event.message
    if event.path_pid is not None:
        problem = Problem("dsp.negotiation.misrouted", "an initial ContractOfferMessage goes to /negotiations/offers")
        return KIND.error(400, problem, msg.provider_pid, event.path_pid)
    answered = first_message_answered(KIND, event, existing, ctx)
    if answered is not None:
        return answered
    allowed = machine.receive(Role.CONSUMER, None, M.OFFER)
    assert not isinstance(allowed, TransitionRefusal)
    pid = ctx.new_id()
    neg = Negotiation(
        id=pid,
        role=Role.CONSUMER,
        state=allowed.target,
        peer_id=event.peer.participant_id,
        peer_address=str(msg.callback_address).rstrip("/"),
        provider_pid=msg.provider_pid,
        consumer_pid=pid,
        dataset_id=msg.offer.get("target"),
        offer_id=msg.offer.get("@id"),
        offer=dict(msg.offer),
        claims=event.peer.claims,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    return created(
        neg,
        event,
        ctx,
        "received ContractOfferMessage",
        "the provider offered a contract",
        {"offer": neg.offer_id},
        f"{M.OFFER.value}:initial",
        pending.CONSIDER_OFFER,
    )


# --- messages about a negotiation of ours -----------------------------------------------------------------------


def agreement_refused(neg: Negotiation, msg: ContractAgreementMessage, existing: Agreement | None) -> Reply | None:
    """Consumer: the refusal of an agreement without an id, or with the id of another negotiation's agreement
    (`existing`: the agreement stored under the id it names)."""
    agreement_id = msg.agreement.get("@id")
    if not isinstance(agreement_id, str) or not agreement_id:
        problem = Problem("dsp.invalid_message", "the agreement has no @id", "$.agreement['@id']")
        return KIND.error(400, problem, neg.provider_pid, neg.consumer_pid)
    if existing is not None and existing.negotiation_id != neg.id:
        problem = Problem(
            "dsp.negotiation.duplicate_agreement", f"agreement '{agreement_id}' already belongs to another negotiation"
        )
        return KIND.error(400, problem, neg.provider_pid, neg.consumer_pid)
    return None


def on_received(
    neg: Negotiation, event: Received, allowed: Transition[S, M], facts: Facts, ctx: StepContext
) -> Outcome:
    """A message the machine takes (see steps.admit), already logged as received: the transition it makes, and
    the step it leaves us."""
    msg = event.message
    message: M = msg.kind
    draft = Draft(neg, ctx)
    after: pending.PendingStep | None = None
    if message == M.REQUEST:  # provider: the consumer counters our offer
        draft.transition(
            allowed.target,
            "received ContractRequestMessage (counter-offer)",
            offer=dict(msg.offer),
            offer_id=msg.offer.get("@id"),
            purpose=_purpose(msg) or neg.purpose,
        )
        after = pending.DECIDE
    elif message == M.ACCEPTED:  # provider: the consumer accepted our offer
        draft.transition(allowed.target, f"received {message.label}")
        after = pending.AGREE
    elif message == M.FINALIZED:  # consumer
        draft.transition(allowed.target, f"received {message.label}")
        draft.finalizes_agreement = True
    elif message == M.VERIFICATION:  # provider: the consumer verified our agreement
        draft.transition(allowed.target, "received ContractAgreementVerificationMessage")
        if facts.signature_problem is not None:  # the countersignature is not acceptable: no script decides here
            draft.set_pending(pending.terminate(facts.signature_problem.reason))
            return draft.outcome(reply=KIND.ack(draft.record))
        after = pending.FINALIZE
    elif message == M.TERMINATION:
        reason = peer_reason("the peer terminated the negotiation", msg.code, msg.reason)
        draft.drop_queued = True
        detail = {"code": msg.code, "reason": list(msg.reason), "undelivered_messages_dropped": facts.queued}
        draft.transition(
            allowed.target, "received ContractNegotiationTerminationMessage", reason, detail, reason=reason
        )
        return draft.outcome(reply=KIND.ack(draft.record))
    elif message == M.OFFER:  # consumer: the provider counters our request
        draft.transition(
            allowed.target,
            "received ContractOfferMessage",
            offer=dict(msg.offer),
            offer_id=msg.offer.get("@id"),
            provider_pid=neg.provider_pid or msg.provider_pid,
        )
        after = pending.CONSIDER_OFFER
    elif message == M.AGREEMENT:  # consumer
        agreement = dict(msg.agreement)
        agreement_id = agreement["@id"]
        draft.agreement = Agreement(
            id=agreement_id,
            negotiation_id=neg.id,
            provider_id=neg.peer_id,
            consumer_id=ctx.participant_id,
            dataset_id=str(agreement.get("target") or neg.dataset_id or ""),
            policy=agreement,
            concluded_at=_timestamp(agreement.get("timestamp"), ctx.now),
            provider_address=neg.peer_address,
        )
        # The provider's claims as verified now: the countersignature covers the credentials they came from.
        draft.transition(
            allowed.target,
            "received ContractAgreementMessage",
            None,
            {"agreement": agreement_id, **facts.signature_detail},
            agreement_id=agreement_id,
            provider_pid=neg.provider_pid or msg.provider_pid,
            claims=event.peer.claims or neg.claims,
        )
        after = pending.VERIFY
    else:  # pragma: no cover - the machine takes no other message
        raise AssertionError(f"no step for {message}")
    draft.set_pending(scripted(ctx, draft.record, message, after))
    return draft.outcome(reply=KIND.ack(draft.record))


# --- our moves (pending steps) ----------------------------------------------------------------------------------


def perform(neg: Negotiation, facts: Facts, ctx: StepContext) -> Outcome:
    """Do the step `neg` owes. Facts: `offered` for decide, agree and offer; `agreement` and the signer's
    `signature_problem` with it for verify."""
    return perform_step(neg, facts, ctx, _STEPS)


def _decide(draft: Draft[Negotiation], _: str | None, facts: Facts) -> None:
    """Provider: agree to the request if an offer of ours to this peer permits it; refuse it otherwise."""
    neg, ctx = draft.record, draft.ctx
    claims = claims_codec.from_json(neg.claims, neg.peer_id, ctx.now)
    verdict = ctx.decisions.contract(list(facts.offered), neg.offer or {}, neg.dataset_id, claims, ctx.now, neg.purpose)
    draft.record_evidence(
        "policy.decided",
        verdict.trace,
        {"stage": "negotiation", "permitted": verdict.permitted, "reasons": list(verdict.reasons)},
    )
    draft.note(
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
        draft.terminate(f"contract refused: {verdict.reason}", code="policy.refused")
        return
    _agree(draft, matched_offer=verdict.matched_offer_id)


def _agree_step(draft: Draft[Negotiation], _: str | None, facts: Facts) -> None:
    neg, ctx = draft.record, draft.ctx
    if neg.state == S.ACCEPTED and ctx.script is None:
        # The consumer accepted our own offer: it still has to be one we make to this peer now.
        claims = claims_codec.from_json(neg.claims, neg.peer_id, ctx.now)
        verdict = ctx.decisions.contract(
            list(facts.offered), neg.offer or {}, neg.dataset_id, claims, ctx.now, neg.purpose
        )
        draft.note(
            "contract policy decided",
            verdict.reason,
            {"permitted": verdict.permitted, "trace": verdict.trace, "explanation": verdict.explanation},
        )
        if not verdict.permitted:
            draft.terminate(f"contract refused: {verdict.reason}", code="policy.refused")
            return
    _agree(draft, matched_offer=neg.offer_id)


def _agree(draft: Draft[Negotiation], matched_offer: str | None) -> None:
    from connector.dsp.messages import ContractAgreementMessage

    neg, ctx = draft.record, draft.ctx
    now = ctx.now
    terms = rules_of(neg.offer or {})
    agreement: dict[str, Any] = {
        "@id": ctx.new_id(),
        "@type": "Agreement",
        **({"profile": neg.offer["profile"]} if neg.offer and "profile" in neg.offer else {}),
        "target": neg.dataset_id or (neg.offer or {}).get("target"),
        "assigner": ctx.participant_id,
        "assignee": neg.peer_id,
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **terms,
    }
    if not terms:
        agreement["permission"] = [{"action": "use"}]
    body = ContractAgreementMessage(
        provider_pid=neg.provider_pid or neg.id, consumer_pid=neg.consumer_pid or "", agreement=agreement
    ).to_json()
    draft.send(
        M.AGREEMENT,
        body,
        KIND.url(neg, "agreement"),
        detail={"agreement": agreement["@id"], "matchedOffer": matched_offer},
        signing=SignAgreement(agreement),
        agreement_id=agreement["@id"],
    )
    draft.agreement = Agreement(
        id=agreement["@id"],
        negotiation_id=neg.id,
        provider_id=ctx.participant_id,
        consumer_id=neg.peer_id,
        dataset_id=str(agreement["target"]),
        policy=agreement,
        concluded_at=now.replace(microsecond=0),
    )


def _finalize(draft: Draft[Negotiation], _: str | None, facts: Facts) -> None:
    from connector.dsp.messages import ContractNegotiationEventMessage

    neg = draft.record
    body = ContractNegotiationEventMessage(
        provider_pid=neg.provider_pid or neg.id,
        consumer_pid=neg.consumer_pid or "",
        event_type=NegotiationEvent.FINALIZED,
    ).to_json()
    draft.send(M.FINALIZED, body, KIND.url(neg, "events"))
    draft.finalizes_agreement = True


def _offer(draft: Draft[Negotiation], _: str | None, facts: Facts) -> None:
    """Provider counter-offer: the dataset's first offer, as we offer it (conformance profile)."""
    from connector.dsp.messages import ContractOfferMessage

    neg = draft.record
    offered = facts.offered
    policy = wire_policy(offered[0].policy) if offered else dict(neg.offer or {})
    offer = {
        **policy,
        "@id": offered[0].offer_id if offered else policy.get("@id", draft.ctx.new_id()),
        "@type": "Offer",
        "target": neg.dataset_id,
    }
    body = ContractOfferMessage(
        provider_pid=neg.provider_pid or neg.id, consumer_pid=neg.consumer_pid, offer=offer
    ).to_json()
    draft.send(M.OFFER, body, KIND.url(neg, "offers"), offer=offer, offer_id=offer["@id"])


def _consider_offer(draft: Draft[Negotiation], _: str | None, facts: Facts) -> None:
    """Consumer: accept an offer that is what we asked for; anything else waits for a person."""
    neg = draft.record
    if (
        neg.requested is not None
        and rules_of(neg.requested) == rules_of(neg.offer or {})
        and (neg.offer or {}).get("target") in (None, neg.dataset_id)
    ):
        _accept(draft, None, facts)
        return
    draft.note(
        "offer awaits a decision",
        "the provider offers other terms than requested; accept, counter or terminate it via the management API",
    )


def _accept(draft: Draft[Negotiation], _: str | None, facts: Facts) -> None:
    from connector.dsp.messages import ContractNegotiationEventMessage

    neg = draft.record
    body = ContractNegotiationEventMessage(
        provider_pid=neg.provider_pid or "", consumer_pid=neg.id, event_type=NegotiationEvent.ACCEPTED
    ).to_json()
    draft.send(M.ACCEPTED, body, KIND.url(neg, "events"), requested=neg.offer)


def _counter(draft: Draft[Negotiation], _: str | None, facts: Facts) -> None:
    from connector.dsp.messages import ContractRequestMessage

    neg = draft.record
    offer = dict(neg.offer or {})
    offer.setdefault("target", neg.dataset_id)
    body = ContractRequestMessage(consumer_pid=neg.id, provider_pid=neg.provider_pid, offer=offer).to_json()
    draft.send(M.REQUEST, body, KIND.url(neg, "request"), requested=offer)


def _verify(draft: Draft[Negotiation], _: str | None, facts: Facts) -> None:
    """Consumer: verify an agreement that is what we asked for (and, with signatures, signed acceptably)."""
    from connector.dsp.messages import ContractAgreementVerificationMessage

    neg, ctx = draft.record, draft.ctx
    agreement = facts.agreement
    if agreement is None:
        draft.terminate("internal: the agreement to verify is missing")
        return
    if ctx.script is None:
        verdict = ctx.decisions.agreement_acceptable(
            neg.requested or neg.offer or {}, agreement.policy, neg.peer_id, ctx.participant_id
        )
        draft.note(
            "agreement checked against the request",
            verdict.reason,
            {"permitted": verdict.permitted, "differences": list(verdict.reasons)},
        )
        if not verdict.permitted:
            draft.terminate(f"the agreement is not what was requested: {verdict.reason}", code="agreement.mismatch")
            return
        if facts.signature_problem is not None:
            draft.terminate(facts.signature_problem.reason, code=facts.signature_problem.code)
            return
    body = ContractAgreementVerificationMessage(provider_pid=neg.provider_pid or "", consumer_pid=neg.id).to_json()
    draft.send(M.VERIFICATION, body, KIND.url(neg, "agreement/verification"), signing=Countersign(agreement))


def _terminate(draft: Draft[Negotiation], argument: str | None, facts: Facts) -> None:
    draft.terminate(argument or "terminated by this participant")


_STEPS: Mapping[StepName, Step[Negotiation]] = {
    StepName.DECIDE: _decide,
    StepName.AGREE: _agree_step,
    StepName.FINALIZE: _finalize,
    StepName.OFFER: _offer,
    StepName.CONSIDER_OFFER: _consider_offer,
    StepName.ACCEPT: _accept,
    StepName.COUNTER: _counter,
    StepName.VERIFY: _verify,
    StepName.TERMINATE: _terminate,
}


# --- commands from our own users --------------------------------------------------------------------------------


def start(
    ctx: StepContext,
    provider_id: str,
    provider_address: str,
    offer: Mapping[str, Any],
    dataset_id: str,
    purpose: str | None,
    callback_url: str,
) -> Outcome:
    """Consumer: ask a provider for a contract on `offer` (which must name its target dataset). An offer that
    imposes a duty this node cannot fulfil is refused here: agreeing to it would be a promise not kept."""
    from connector.dsp.messages import ContractRequestMessage

    _fulfillable(offer)
    pid = ctx.new_id()
    offer = {**offer, "target": offer.get("target") or dataset_id}
    offer.setdefault("@type", "Offer")
    if purpose:
        offer = declare_purpose(offer, purpose)
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
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    body = ContractRequestMessage(
        consumer_pid=pid,
        offer=offer,
        callback_address=callback_url,
    ).to_json()
    detail = {"offer": neg.offer_id, "dataset": dataset_id, "provider": provider_id}
    return opened(neg, ctx, body, f"{neg.peer_address}/negotiations/request", detail)


def command(
    neg: Negotiation | None, pid: str, action: str, reason: str | None, facts: Facts, ctx: StepContext
) -> Outcome:
    """A user's decision on a negotiation: terminate, or accept (an offer whose duties this node can fulfil)."""
    neg = commanded(neg, KIND, pid)
    draft = Draft(neg, ctx)
    if action == "terminate":
        draft.terminate(reason or "terminated by this participant")
    elif action == "accept":
        if neg.role != Role.CONSUMER or neg.state != S.OFFERED:
            raise ConnectorError(
                "negotiation.invalid_state", "only an OFFERED negotiation of ours as consumer can be accepted"
            )
        _fulfillable(neg.offer or {})  # the provider's terms may differ from what we asked for
        _accept(draft, None, facts)
    else:
        raise ConnectorError("negotiation.bad_command", f"unknown action '{action}'")
    return draft.outcome()


def _fulfillable(offer: Mapping[str, Any]) -> None:
    from connector.policy.engine import parse_policy, usage_duties  # the engine: with the first policy

    try:
        policy = parse_policy(offer)
    except ConnectorError:
        return  # the provider judges an offer its own catalogue gave in its own terms
    unfulfillable = usage_duties(policy).unfulfillable
    if unfulfillable:
        first = unfulfillable[0]
        raise ConnectorError(
            first.code, f"the offer imposes a duty this node cannot fulfil: {first.reason}", first.where
        )


# --- helpers ----------------------------------------------------------------------------------------------------


def _purpose(msg: ContractRequestMessage) -> str | None:
    """The purpose the consumer declares: in the requested policy (``odrl:purpose eq X``, see
    `connector.policy.spelling`), or as the top-level ``purpose`` member older nodes of this project send (a term
    the DSP context does not define: read, never written)."""
    from connector.policy.engine import declared_purpose

    value = msg.extensions.get("purpose") if msg.extensions else None
    if isinstance(value, str) and value:
        return value
    return declared_purpose(msg.offer)


def _timestamp(value: Any, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return default
