"""How DSP values map to and from their compact JSON form.

Every message class declares its wire layout once, as a tuple of `Field`s (JSON key, attribute, codec); the
generic `to_json` / `from_json` here walk that layout. Properties a class does not model are kept verbatim in
`extensions`, so that a peer's extension data (a signature, `assigner` on an offer, ...) survives a round trip.
Decoding assumes the document already passed the official schema (see `messages.parse_message`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, ClassVar, Protocol, Self

from connector.dsp.vocabulary import DSP_CONTEXT
from connector.errors import ConnectorError


class Codec(Protocol):
    def encode(self, value: Any) -> Any: ...

    def decode(self, value: Any) -> Any: ...

    def is_absent(self, value: Any) -> bool: ...


class _Text:
    def encode(self, value: Any) -> Any:
        return value

    def decode(self, value: Any) -> Any:
        return value

    def is_absent(self, value: Any) -> bool:
        return value is None


class _JsonObject:
    """An opaque JSON object (an ODRL policy): copied in and out, never shared."""

    def encode(self, value: Any) -> Any:
        return copy.deepcopy(value)

    def decode(self, value: Any) -> Any:
        return copy.deepcopy(value)

    def is_absent(self, value: Any) -> bool:
        return value is None


@dataclass(frozen=True)
class JsonListCodec:
    """A JSON array held as a tuple of copied items. Where the schema demands minItems 1 the empty tuple stands for
    "absent"; elsewhere (`filter`) None does, so that an empty array survives a round trip."""

    empty_is_absent: bool = True

    def encode(self, value: Any) -> Any:
        return [copy.deepcopy(item) for item in value]

    def decode(self, value: Any) -> Any:
        return tuple(copy.deepcopy(item) for item in value)

    def is_absent(self, value: Any) -> bool:
        return value is None or (self.empty_is_absent and not value)


@dataclass(frozen=True)
class EnumCodec:
    enum: type[StrEnum]

    def encode(self, value: Any) -> Any:
        return str(value)

    def decode(self, value: Any) -> Any:
        return self.enum(value)

    def is_absent(self, value: Any) -> bool:
        return value is None


@dataclass(frozen=True)
class NodeCodec:
    node: type[Node]

    def encode(self, value: Any) -> Any:
        return value.to_node()

    def decode(self, value: Any) -> Any:
        return self.node.from_node(value)

    def is_absent(self, value: Any) -> bool:
        return value is None


@dataclass(frozen=True)
class NodeListCodec:
    """An array of nodes held as a tuple; empty means absent (every such DSP array has minItems 1)."""

    node: type[Node]

    def encode(self, value: Any) -> Any:
        return [item.to_node() for item in value]

    def decode(self, value: Any) -> Any:
        return tuple(self.node.from_node(item) for item in value)

    def is_absent(self, value: Any) -> bool:
        return not value


@dataclass(frozen=True)
class NodeOrTextCodec:
    """A reference that is either an identifier string or an embedded node (`accessService`)."""

    node: type[Node]

    def encode(self, value: Any) -> Any:
        return value if isinstance(value, str) else value.to_node()

    def decode(self, value: Any) -> Any:
        return value if isinstance(value, str) else self.node.from_node(value)

    def is_absent(self, value: Any) -> bool:
        return value is None


TEXT: Codec = _Text()
JSON_OBJECT: Codec = _JsonObject()
JSON_LIST: Codec = JsonListCodec()


@dataclass(frozen=True)
class Field:
    key: str  # compact JSON-LD term on the wire
    attribute: str
    codec: Codec = TEXT


MESSAGE_ID = Field("@id", "message_id")
PROVIDER_PID = Field("providerPid", "provider_pid")
CONSUMER_PID = Field("consumerPid", "consumer_pid")
CALLBACK_ADDRESS = Field("callbackAddress", "callback_address")
CODE = Field("code", "code")
REASON = Field("reason", "reason", JSON_LIST)


@dataclass(frozen=True, kw_only=True)
class Node:
    """A JSON object with a fixed `@type`, nested or top level."""

    TYPE: ClassVar[str]
    WIRE: ClassVar[tuple[Field, ...]] = ()
    extensions: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clash = sorted(set(self.extensions) & {spec.key for spec in self.WIRE})
        if clash:
            raise ConnectorError(
                "dsp.extension_clash",
                f"extension properties may not redefine the modelled properties {', '.join(clash)} of {self.TYPE}",
                where=clash[0],
            )

    def to_node(self) -> dict[str, Any]:
        """The compact JSON object as it appears nested in another document."""
        body: dict[str, Any] = {"@type": self.TYPE}
        for spec in self.WIRE:
            value = getattr(self, spec.attribute)
            if not spec.codec.is_absent(value):
                body[spec.key] = spec.codec.encode(value)
        # Nested DCAT nodes may carry another "@type" (or an embedded "@context"); those stay as they came.
        for key, value in self.extensions.items():
            body[key] = copy.deepcopy(value)
        return body

    @classmethod
    def from_node(cls, document: Mapping[str, Any]) -> Self:
        keys = {spec.key for spec in cls.WIRE}
        values = {spec.attribute: spec.codec.decode(document[spec.key]) for spec in cls.WIRE if spec.key in document}
        extensions = {key: copy.deepcopy(value) for key, value in document.items() if key not in keys}
        if extensions.get("@type") == cls.TYPE:
            del extensions["@type"]
        return cls(**values, extensions=extensions)


@dataclass(frozen=True, kw_only=True)
class Message(Node):
    """A top-level DSP document: `@context` (an array holding the 2025-1 context) and a compact `@type`."""

    context: tuple[str, ...] = (DSP_CONTEXT,)

    def to_json(self) -> dict[str, Any]:
        """The compact JSON-LD document as it goes on the wire."""
        body: dict[str, Any] = {"@context": list(self.context), "@type": self.TYPE}
        # At top level `context` and TYPE are authoritative, whatever the extensions hold.
        body.update((key, value) for key, value in self.to_node().items() if key not in ("@context", "@type"))
        return body

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        """Build from a document that already passed the official schema (use `parse_message` for input)."""
        context = tuple(document.get("@context", (DSP_CONTEXT,)))
        node = cls.from_node({key: value for key, value in document.items() if key not in ("@context", "@type")})
        return replace(node, context=context)


def coerce_enum(node: Node, attribute: str, enum: type[StrEnum], key: str) -> None:
    """Accept the plain string form of an enum field from builders; refuse values the protocol does not know."""
    value = getattr(node, attribute)
    if isinstance(value, enum):
        return
    try:
        object.__setattr__(node, attribute, enum(value))
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ConnectorError(
            "dsp.invalid_message", f"{key} of a {node.TYPE} must be one of {allowed}, not {value!r}", where=key
        ) from None


def require_exactly_one(node: Node, *options: tuple[str, str]) -> None:
    """Enforce a schema `oneOf` of properties at construction, so that we cannot build what peers must refuse."""
    present = [key for attribute, key in options if getattr(node, attribute) is not None]
    if len(present) != 1:
        keys = " or ".join(key for _, key in options)
        found = "none" if not present else " and ".join(present)
        raise ConnectorError(
            "dsp.invalid_message",
            f"a {node.TYPE} carries exactly one of {keys}, but this one has {found}",
            where=options[0][1],
        )
