"""Contract negotiation messages, the ContractNegotiation acknowledgement and the error body.

Offers and agreements stay plain ODRL JSON objects here; the policy engine owns their meaning.
`message_id` is the optional message-level `@id`, which the transport layer uses as an idempotency key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from connector.dsp.vocabulary import NegotiationEvent, NegotiationMessage, NegotiationState
from connector.dsp.wire import (
    CALLBACK_ADDRESS,
    CODE,
    CONSUMER_PID,
    JSON_OBJECT,
    MESSAGE_ID,
    PROVIDER_PID,
    REASON,
    EnumCodec,
    Field,
    Message,
    coerce_enum,
    require_exactly_one,
)
from connector.errors import Problem


@dataclass(frozen=True, kw_only=True)
class ContractRequestMessage(Message):
    """Consumer -> provider: start a negotiation (with `callback_address`) or counter an offer (with `provider_pid`)."""

    TYPE: ClassVar[str] = "ContractRequestMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        CONSUMER_PID,
        PROVIDER_PID,
        Field("offer", "offer", JSON_OBJECT),
        CALLBACK_ADDRESS,
    )
    consumer_pid: str
    offer: Mapping[str, Any]
    provider_pid: str | None = None
    callback_address: str | None = None
    message_id: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        require_exactly_one(self, ("provider_pid", "providerPid"), ("callback_address", "callbackAddress"))

    @property
    def is_initial(self) -> bool:
        return self.provider_pid is None

    @property
    def kind(self) -> NegotiationMessage:
        return NegotiationMessage.REQUEST


@dataclass(frozen=True, kw_only=True)
class ContractOfferMessage(Message):
    """Provider -> consumer: start a negotiation (with `callback_address`) or counter a request (`consumer_pid`)."""

    TYPE: ClassVar[str] = "ContractOfferMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        PROVIDER_PID,
        CONSUMER_PID,
        Field("offer", "offer", JSON_OBJECT),
        CALLBACK_ADDRESS,
    )
    provider_pid: str
    offer: Mapping[str, Any]
    consumer_pid: str | None = None
    callback_address: str | None = None
    message_id: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        require_exactly_one(self, ("consumer_pid", "consumerPid"), ("callback_address", "callbackAddress"))

    @property
    def is_initial(self) -> bool:
        return self.consumer_pid is None

    @property
    def kind(self) -> NegotiationMessage:
        return NegotiationMessage.OFFER


@dataclass(frozen=True, kw_only=True)
class ContractAgreementMessage(Message):
    TYPE: ClassVar[str] = "ContractAgreementMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        PROVIDER_PID,
        CONSUMER_PID,
        Field("agreement", "agreement", JSON_OBJECT),
    )
    provider_pid: str
    consumer_pid: str
    agreement: Mapping[str, Any]
    message_id: str | None = None

    @property
    def kind(self) -> NegotiationMessage:
        return NegotiationMessage.AGREEMENT


@dataclass(frozen=True, kw_only=True)
class ContractAgreementVerificationMessage(Message):
    TYPE: ClassVar[str] = "ContractAgreementVerificationMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, PROVIDER_PID, CONSUMER_PID)
    provider_pid: str
    consumer_pid: str
    message_id: str | None = None

    @property
    def kind(self) -> NegotiationMessage:
        return NegotiationMessage.VERIFICATION


@dataclass(frozen=True, kw_only=True)
class ContractNegotiationEventMessage(Message):
    TYPE: ClassVar[str] = "ContractNegotiationEventMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        PROVIDER_PID,
        CONSUMER_PID,
        Field("eventType", "event_type", EnumCodec(NegotiationEvent)),
    )
    provider_pid: str
    consumer_pid: str
    event_type: NegotiationEvent
    message_id: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        coerce_enum(self, "event_type", NegotiationEvent, "eventType")

    @property
    def kind(self) -> NegotiationMessage:
        # An ACCEPTED and a FINALIZED event are different moves, made by different roles.
        return NegotiationMessage(f"{self.TYPE}:{self.event_type}")


@dataclass(frozen=True, kw_only=True)
class ContractNegotiationTerminationMessage(Message):
    TYPE: ClassVar[str] = "ContractNegotiationTerminationMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, PROVIDER_PID, CONSUMER_PID, CODE, REASON)
    provider_pid: str
    consumer_pid: str
    code: str | None = None
    reason: tuple[Any, ...] = ()
    message_id: str | None = None

    @property
    def kind(self) -> NegotiationMessage:
        return NegotiationMessage.TERMINATION


@dataclass(frozen=True, kw_only=True)
class ContractNegotiation(Message):
    """The acknowledgement of a negotiation message, and the answer to GET /negotiations/{pid}."""

    TYPE: ClassVar[str] = "ContractNegotiation"
    WIRE: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        PROVIDER_PID,
        CONSUMER_PID,
        Field("state", "state", EnumCodec(NegotiationState)),
    )
    provider_pid: str
    consumer_pid: str
    state: NegotiationState
    message_id: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        coerce_enum(self, "state", NegotiationState, "state")


@dataclass(frozen=True, kw_only=True)
class ContractNegotiationError(Message):
    TYPE: ClassVar[str] = "ContractNegotiationError"
    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, PROVIDER_PID, CONSUMER_PID, CODE, REASON)
    provider_pid: str
    consumer_pid: str
    code: str | None = None
    reason: tuple[Any, ...] = ()
    message_id: str | None = None

    @classmethod
    def from_problem(cls, problem: Problem, *, provider_pid: str, consumer_pid: str) -> ContractNegotiationError:
        """The error body for a refused negotiation message: the problem's code and its sentence."""
        return cls(provider_pid=provider_pid, consumer_pid=consumer_pid, code=problem.code, reason=(str(problem),))
