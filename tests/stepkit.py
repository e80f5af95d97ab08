"""Negotiations, transfers and events as plain values, for the tests of the steps (no store, no network).

A step's context reads a fixed clock and numbered ids, so outcomes are predictable; the policy decisions are
the real ODRL engine's. Every DSP body a step answers with or queues can be checked against the official
schemas with `assert_valid`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.control import negotiations, steps, transfers
from connector.control.decisions import OfferedPolicy, PolicyDecisions
from connector.control.events import Peer, Received
from connector.control.facts import NO_FACTS, Admission, Facts
from connector.control.outcome import Outcome, Reply
from connector.control.pending import PendingStep
from connector.control.steps import StepContext
from connector.dsp.schemas import validate
from connector.dsp.vocabulary import NegotiationMessage, Role
from connector.records.processes import Agreement, Negotiation, Transfer

NOW = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
EARLIER = NOW - timedelta(hours=1)
PROVIDER = "did:web:provider.example"
CONSUMER = "did:web:consumer.example"
PROVIDER_DSP = "https://provider.example/dsp/2025-1"
CONSUMER_DSP = "https://consumer.example/dsp/2025-1"
OUR_PID = "urn:uuid:ours"
PEER_PID = "urn:uuid:theirs"
DATASET = "weather"
OFFER = {"@id": "weather-offer", "@type": "Offer", "target": DATASET, "permission": [{"action": "use"}]}
AGREEMENT_ID = "urn:uuid:agreement-1"


class Script:
    """A conformance script as tables: (message, step) on receipt, (message type, times before, step) after a
    delivery; anything not listed keeps the default."""

    def __init__(
        self,
        received: Mapping[str, PendingStep | None] | None = None,
        delivered: Mapping[tuple[str, int], PendingStep | None] | None = None,
    ) -> None:
        self.received = dict(received or {})
        self.delivered = dict(delivered or {})
        self.asked: list[tuple[str, Any]] = []

    def on_received(self, process: Any, message: str) -> Any:
        self.asked.append((str(message), process))
        return self.received.get(str(message), ...)

    def after_delivered(self, process: Any, message_type: str, delivered_before: int) -> PendingStep | None:
        return self.delivered.get((message_type, delivered_before))


def context(script: Any = None, participant_id: str = PROVIDER) -> StepContext:
    numbers = itertools.count(1)
    return StepContext(participant_id, NOW, PolicyDecisions(), script, lambda: f"urn:uuid:id-{next(numbers)}")


def provider_context(script: Any = None) -> StepContext:
    return context(script, PROVIDER)


def consumer_context(script: Any = None) -> StepContext:
    return context(script, CONSUMER)


def negotiation(role: Role, state: Any, **fields: Any) -> Negotiation:
    """Our negotiation in `role` with the other participant, both pids known."""
    provider = role == Role.PROVIDER
    values: dict[str, Any] = {
        "id": OUR_PID,
        "role": role,
        "state": state,
        "peer_id": CONSUMER if provider else PROVIDER,
        "peer_address": CONSUMER_DSP if provider else PROVIDER_DSP,
        "provider_pid": OUR_PID if provider else PEER_PID,
        "consumer_pid": PEER_PID if provider else OUR_PID,
        "dataset_id": DATASET,
        "offer_id": OFFER["@id"],
        "offer": dict(OFFER),
        "requested": None if provider else dict(OFFER),
        "created_at": EARLIER,
        "updated_at": EARLIER,
    }
    values.update(fields)
    return Negotiation(**values)


def transfer(role: Role, state: Any, **fields: Any) -> Transfer:
    """Our transfer in `role` under AGREEMENT_ID, both pids known."""
    provider = role == Role.PROVIDER
    values: dict[str, Any] = {
        "id": OUR_PID,
        "role": role,
        "state": state,
        "peer_id": CONSUMER if provider else PROVIDER,
        "peer_address": CONSUMER_DSP if provider else PROVIDER_DSP,
        "agreement_id": AGREEMENT_ID,
        "format": "HttpData-PULL",
        "provider_pid": OUR_PID if provider else PEER_PID,
        "consumer_pid": PEER_PID if provider else OUR_PID,
        "created_at": EARLIER,
        "updated_at": EARLIER,
    }
    values.update(fields)
    return Transfer(**values)


def agreement(policy: Mapping[str, Any] | None = None, **fields: Any) -> Agreement:
    values: dict[str, Any] = {
        "id": AGREEMENT_ID,
        "negotiation_id": "urn:uuid:negotiation",
        "provider_id": PROVIDER,
        "consumer_id": CONSUMER,
        "dataset_id": DATASET,
        "policy": {
            "@id": AGREEMENT_ID,
            "@type": "Agreement",
            "target": DATASET,
            "assigner": PROVIDER,
            "assignee": CONSUMER,
            "timestamp": "2030-01-01T00:00:00Z",
            **(policy if policy is not None else {"permission": [{"action": "use"}]}),
        },
        "concluded_at": EARLIER,
        "finalized": True,
    }
    values.update(fields)
    return Agreement(**values)


def offered(policy: Mapping[str, Any] | None = None) -> tuple[OfferedPolicy, ...]:
    """The dataset's one offer, as we make it."""
    return (OfferedPolicy(OFFER["@id"], DATASET, dict(policy or {"permission": [{"action": "use"}]})),)


def admission(started: int = 1, **fields: Any) -> Admission:
    return Admission(agreement(**fields), started, None)


def received(message: Any, sender: str, path_pid: str | None = OUR_PID, claims: Any = None) -> Received:
    body = message.to_json()
    assert_valid(body)
    return Received(Peer(sender, claims), message, body, path_pid)


def take(record: Any, event: Received, facts: Facts = NO_FACTS, ctx: StepContext | None = None) -> Reply | Outcome:
    """What the shell does with a message about `record`, without the store: admit it, then run its step."""
    kind = steps.kind_of(record)
    is_negotiation = kind is steps.NEGOTIATION
    our_role = negotiations.OUR_ROLE.get(event.message.kind) if is_negotiation else None
    allowed = steps.admit(kind, record, event, our_role)
    if isinstance(allowed, Reply):
        return allowed
    if ctx is None:
        ctx = context(participant_id=PROVIDER if record.role == Role.PROVIDER else CONSUMER)
    if event.message.kind == NegotiationMessage.AGREEMENT:
        refused = negotiations.agreement_refused(record, event.message, None)
        if refused is not None:
            return refused
    module: Any = negotiations if is_negotiation else transfers
    return module.on_received(record, event, allowed, facts, ctx)


def assert_valid(body: Mapping[str, Any]) -> None:
    problems = validate(body["@type"], dict(body))
    assert not problems, (body["@type"], problems[0].reason, problems[0].where)


def assert_outcome_valid(outcome: Outcome) -> None:
    """Every DSP body of `outcome` (its reply and the messages it queues) follows the official schemas."""
    if outcome.reply is not None:
        assert_valid(outcome.reply.body)
    for message in outcome.messages:
        assert_valid(message.body)


def refusal_code(reply: Reply) -> str:
    return str(reply.body["code"])
