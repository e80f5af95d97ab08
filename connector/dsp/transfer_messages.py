"""Transfer process messages, the TransferProcess acknowledgement, the error body and data addresses.

`message_id` is the optional message-level `@id`, which the transport layer uses as an idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from connector.dsp.process_messages import ProcessError, ProcessMessage, ReasonedMessage
from connector.dsp.vocabulary import TransferMessage, TransferState
from connector.dsp.wire import (
    CALLBACK_ADDRESS,
    CONSUMER_PID,
    MESSAGE_ID,
    PROVIDER_PID,
    EnumCodec,
    Field,
    Message,
    Node,
    NodeCodec,
    NodeListCodec,
    coerce_enum,
)


@dataclass(frozen=True, kw_only=True)
class EndpointProperty(Node):
    TYPE: ClassVar[str] = "EndpointProperty"
    WIRE: ClassVar[tuple[Field, ...]] = (Field("name", "name"), Field("value", "value"))
    name: str
    value: str


@dataclass(frozen=True, kw_only=True)
class DataAddress(Node):
    """Where data is pushed to (in a request) or pulled from (in a start message)."""

    TYPE: ClassVar[str] = "DataAddress"
    WIRE: ClassVar[tuple[Field, ...]] = (
        Field("endpointType", "endpoint_type"),
        Field("endpoint", "endpoint"),
        Field("endpointProperties", "endpoint_properties", NodeListCodec(EndpointProperty)),
    )
    endpoint_type: str
    endpoint: str | None = None
    endpoint_properties: tuple[EndpointProperty, ...] = ()

    def endpoint_property(self, name: str) -> str | None:
        """The value of the first endpoint property called `name` (`authorization`, `authType`, ...)."""
        return next((p.value for p in self.endpoint_properties if p.name == name), None)


_DATA_ADDRESS = Field("dataAddress", "data_address", NodeCodec(DataAddress))


@dataclass(frozen=True, kw_only=True)
class TransferRequestMessage(Message):
    TYPE: ClassVar[str] = "TransferRequestMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        CONSUMER_PID,
        Field("agreementId", "agreement_id"),
        Field("format", "format"),
        _DATA_ADDRESS,
        CALLBACK_ADDRESS,
    )
    consumer_pid: str
    agreement_id: str
    format: str
    callback_address: str
    data_address: DataAddress | None = None  # only for push transfers
    message_id: str | None = None

    @property
    def kind(self) -> TransferMessage:
        return TransferMessage.REQUEST


@dataclass(frozen=True, kw_only=True)
class TransferStartMessage(ProcessMessage):
    TYPE: ClassVar[str] = "TransferStartMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, PROVIDER_PID, CONSUMER_PID, _DATA_ADDRESS)
    data_address: DataAddress | None = None  # required for pull transfers

    @property
    def kind(self) -> TransferMessage:
        return TransferMessage.START


@dataclass(frozen=True, kw_only=True)
class TransferSuspensionMessage(ReasonedMessage):
    TYPE: ClassVar[str] = "TransferSuspensionMessage"

    @property
    def kind(self) -> TransferMessage:
        return TransferMessage.SUSPENSION


@dataclass(frozen=True, kw_only=True)
class TransferCompletionMessage(ProcessMessage):
    TYPE: ClassVar[str] = "TransferCompletionMessage"

    @property
    def kind(self) -> TransferMessage:
        return TransferMessage.COMPLETION


@dataclass(frozen=True, kw_only=True)
class TransferTerminationMessage(ReasonedMessage):
    TYPE: ClassVar[str] = "TransferTerminationMessage"

    @property
    def kind(self) -> TransferMessage:
        return TransferMessage.TERMINATION


@dataclass(frozen=True, kw_only=True)
class TransferProcess(ProcessMessage):
    """The acknowledgement of a transfer message, and the answer to GET /transfers/{pid}."""

    TYPE: ClassVar[str] = "TransferProcess"
    WIRE: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        PROVIDER_PID,
        CONSUMER_PID,
        Field("state", "state", EnumCodec(TransferState)),
    )
    state: TransferState

    def __post_init__(self) -> None:
        super().__post_init__()
        coerce_enum(self, "state", TransferState, "state")


@dataclass(frozen=True, kw_only=True)
class TransferError(ProcessError):
    TYPE: ClassVar[str] = "TransferError"
