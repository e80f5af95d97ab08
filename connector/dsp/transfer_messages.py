"""Transfer process messages, the TransferProcess acknowledgement, the error body and data addresses.

`message_id` is the optional message-level `@id`, which the transport layer uses as an idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from connector.dsp.vocabulary import TransferMessage, TransferState
from connector.dsp.wire import (
    CALLBACK_ADDRESS,
    CODE,
    CONSUMER_PID,
    MESSAGE_ID,
    PROVIDER_PID,
    REASON,
    EnumCodec,
    Field,
    Message,
    Node,
    NodeCodec,
    NodeListCodec,
    coerce_enum,
)
from connector.errors import Problem


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
class TransferStartMessage(Message):
    TYPE: ClassVar[str] = "TransferStartMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, PROVIDER_PID, CONSUMER_PID, _DATA_ADDRESS)
    provider_pid: str
    consumer_pid: str
    data_address: DataAddress | None = None  # required for pull transfers
    message_id: str | None = None

    @property
    def kind(self) -> TransferMessage:
        return TransferMessage.START


@dataclass(frozen=True, kw_only=True)
class TransferSuspensionMessage(Message):
    TYPE: ClassVar[str] = "TransferSuspensionMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, PROVIDER_PID, CONSUMER_PID, CODE, REASON)
    provider_pid: str
    consumer_pid: str
    code: str | None = None
    reason: tuple[Any, ...] = ()
    message_id: str | None = None

    @property
    def kind(self) -> TransferMessage:
        return TransferMessage.SUSPENSION


@dataclass(frozen=True, kw_only=True)
class TransferCompletionMessage(Message):
    TYPE: ClassVar[str] = "TransferCompletionMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, PROVIDER_PID, CONSUMER_PID)
    provider_pid: str
    consumer_pid: str
    message_id: str | None = None

    @property
    def kind(self) -> TransferMessage:
        return TransferMessage.COMPLETION


@dataclass(frozen=True, kw_only=True)
class TransferTerminationMessage(Message):
    TYPE: ClassVar[str] = "TransferTerminationMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, PROVIDER_PID, CONSUMER_PID, CODE, REASON)
    provider_pid: str
    consumer_pid: str
    code: str | None = None
    reason: tuple[Any, ...] = ()
    message_id: str | None = None

    @property
    def kind(self) -> TransferMessage:
        return TransferMessage.TERMINATION


@dataclass(frozen=True, kw_only=True)
class TransferProcess(Message):
    """The acknowledgement of a transfer message, and the answer to GET /transfers/{pid}."""

    TYPE: ClassVar[str] = "TransferProcess"
    WIRE: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        PROVIDER_PID,
        CONSUMER_PID,
        Field("state", "state", EnumCodec(TransferState)),
    )
    provider_pid: str
    consumer_pid: str
    state: TransferState
    message_id: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        coerce_enum(self, "state", TransferState, "state")


@dataclass(frozen=True, kw_only=True)
class TransferError(Message):
    TYPE: ClassVar[str] = "TransferError"
    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, PROVIDER_PID, CONSUMER_PID, CODE, REASON)
    provider_pid: str
    consumer_pid: str
    code: str | None = None
    reason: tuple[Any, ...] = ()
    message_id: str | None = None

    @classmethod
    def from_problem(cls, problem: Problem, *, provider_pid: str, consumer_pid: str) -> TransferError:
        """The error body for a refused transfer message: the problem's code and its sentence."""
        return cls(provider_pid=provider_pid, consumer_pid=consumer_pid, code=problem.code, reason=(str(problem),))
