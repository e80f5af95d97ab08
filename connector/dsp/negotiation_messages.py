"""Contract negotiation messages, the ContractNegotiation acknowledgement and the error body.

Offers and agreements stay plain ODRL JSON objects here; the policy engine owns their meaning.
`message_id` is the optional message-level `@id`, which the transport layer uses as an idempotency key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from connector.dsp.process_messages import ProcessError, ProcessMessage, ReasonedMessage
from connector.dsp.vocabulary import NegotiationEvent, NegotiationMessage, NegotiationState
from connector.dsp.wire import (
    CALLBACK_ADDRESS,
    CONSUMER_PID,
    JSON_OBJECT,
    MESSAGE_ID,
    PROVIDER_PID,
    EnumCodec,
    Field,
    Message,
    coerce_enum,
    require_exactly_one,
)


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
class ContractAgreementMessage(ProcessMessage):
    TYPE: ClassVar[str] = "ContractAgreementMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        PROVIDER_PID,
        CONSUMER_PID,
        Field("agreement", "agreement", JSON_OBJECT),
    )
    agreement: Mapping[str, Any]

    @property
    def kind(self) -> NegotiationMessage:
        return NegotiationMessage.AGREEMENT


@dataclass(frozen=True, kw_only=True)
class ContractAgreementVerificationMessage(ProcessMessage):
    TYPE: ClassVar[str] = "ContractAgreementVerificationMessage"

    @property
    def kind(self) -> NegotiationMessage:
        return NegotiationMessage.VERIFICATION


@dataclass(frozen=True, kw_only=True)
class ContractNegotiationEventMessage(ProcessMessage):
    TYPE: ClassVar[str] = "ContractNegotiationEventMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        PROVIDER_PID,
        CONSUMER_PID,
        Field("eventType", "event_type", EnumCodec(NegotiationEvent)),
    )
    event_type: NegotiationEvent

    def __post_init__(self) -> None:
        super().__post_init__()
        coerce_enum(self, "event_type", NegotiationEvent, "eventType")

    @property
    def kind(self) -> NegotiationMessage:
        # An ACCEPTED and a FINALIZED event are different moves, made by different roles.
        return NegotiationMessage(f"{self.TYPE}:{self.event_type}")


@dataclass(frozen=True, kw_only=True)
class ContractNegotiationTerminationMessage(ReasonedMessage):
    TYPE: ClassVar[str] = "ContractNegotiationTerminationMessage"

    @property
    def kind(self) -> NegotiationMessage:
        return NegotiationMessage.TERMINATION


@dataclass(frozen=True, kw_only=True)
class ContractNegotiation(ProcessMessage):
    """The acknowledgement of a negotiation message, and the answer to GET /negotiations/{pid}."""

    TYPE: ClassVar[str] = "ContractNegotiation"
    WIRE: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        PROVIDER_PID,
        CONSUMER_PID,
        Field("state", "state", EnumCodec(NegotiationState)),
    )
    state: NegotiationState

    def __post_init__(self) -> None:
        super().__post_init__()
        coerce_enum(self, "state", NegotiationState, "state")


@dataclass(frozen=True, kw_only=True)
class ContractNegotiationError(ProcessError):
    TYPE: ClassVar[str] = "ContractNegotiationError"
