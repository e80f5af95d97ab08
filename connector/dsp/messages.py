"""Parsing any DSP 2025-1 document into its message value, and the one place that knows every message class.

`parse_message` is the only door for peer input: it checks the compact `@type`, validates against the official
schema and builds the frozen dataclass, or raises `ConnectorError` whose `where` is the offending JSON path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from connector.dsp.catalog_messages import (
    Catalog,
    CatalogError,
    CatalogRequestMessage,
    DataService,
    Dataset,
    DatasetRequestMessage,
    Distribution,
)
from connector.dsp.negotiation_messages import (
    ContractAgreementMessage,
    ContractAgreementVerificationMessage,
    ContractNegotiation,
    ContractNegotiationError,
    ContractNegotiationEventMessage,
    ContractNegotiationTerminationMessage,
    ContractOfferMessage,
    ContractRequestMessage,
)
from connector.dsp.process_messages import pid_problem
from connector.dsp.schemas import INVALID_MESSAGE, validate
from connector.dsp.transfer_messages import (
    DataAddress,
    EndpointProperty,
    TransferCompletionMessage,
    TransferError,
    TransferProcess,
    TransferRequestMessage,
    TransferStartMessage,
    TransferSuspensionMessage,
    TransferTerminationMessage,
)
from connector.dsp.wire import Message
from connector.errors import ConnectorError

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogRequestMessage",
    "ContractAgreementMessage",
    "ContractAgreementVerificationMessage",
    "ContractNegotiation",
    "ContractNegotiationError",
    "ContractNegotiationEventMessage",
    "ContractNegotiationTerminationMessage",
    "ContractOfferMessage",
    "ContractRequestMessage",
    "DataAddress",
    "DataService",
    "Dataset",
    "DatasetRequestMessage",
    "Distribution",
    "EndpointProperty",
    "MESSAGE_CLASSES",
    "MAX_DEPTH",
    "Message",
    "TransferCompletionMessage",
    "TransferError",
    "TransferProcess",
    "TransferRequestMessage",
    "TransferStartMessage",
    "TransferSuspensionMessage",
    "TransferTerminationMessage",
    "parse_as",
    "parse_message",
]

MESSAGE_CLASSES: Mapping[str, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        CatalogRequestMessage,
        DatasetRequestMessage,
        Catalog,
        Dataset,
        CatalogError,
        ContractRequestMessage,
        ContractOfferMessage,
        ContractAgreementMessage,
        ContractAgreementVerificationMessage,
        ContractNegotiationEventMessage,
        ContractNegotiationTerminationMessage,
        ContractNegotiation,
        ContractNegotiationError,
        TransferRequestMessage,
        TransferStartMessage,
        TransferSuspensionMessage,
        TransferCompletionMessage,
        TransferTerminationMessage,
        TransferProcess,
        TransferError,
    )
}

# Deeper than any legitimate DSP document (nested ODRL constraints included); refusing early keeps
# recursive validation from exhausting the stack on hostile input.
MAX_DEPTH = 32
PID_KEYS = ("providerPid", "consumerPid")  # process ids: opaque path segments (process_messages.pid_problem)

_TYPE_WHERE = "$['@type']"
_NAME_TAIL = re.compile(r"[^:/#]+$")

M = TypeVar("M", bound=Message)


def parse_message(body: Any, expected: str | None = None) -> Message:
    """The message value of a decoded JSON body.

    `expected` is the compact type the endpoint accepts (e.g. "ContractRequestMessage"); any other type is
    refused with `dsp.unexpected_message`. Unknown properties are kept in the message's `extensions`. Process ids
    (providerPid, consumerPid) must be opaque path segments (`process_messages.pid_problem`).
    """
    if expected is not None and expected not in MESSAGE_CLASSES:
        raise ValueError(f"{expected!r} is not a DSP message type")
    if not isinstance(body, dict):
        raise ConnectorError(INVALID_MESSAGE, f"a DSP message must be a JSON object, not {_json_kind(body)}", where="$")
    if _deeper_than(body, MAX_DEPTH):
        raise ConnectorError(INVALID_MESSAGE, f"the message is nested more than {MAX_DEPTH} levels deep", where="$")

    message_type = _compact_type(body)
    if expected is not None and message_type != expected:
        raise ConnectorError(
            "dsp.unexpected_message",
            f"this endpoint accepts a {expected}, not a {message_type}",
            where=_TYPE_WHERE,
            expected=expected,
            received=message_type,
        )
    cls = MESSAGE_CLASSES[message_type]
    problems = validate(message_type, body)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        raise ConnectorError(
            first.code,
            f"invalid {message_type}: {first.reason}{more}",
            where=first.where,
            problems=[{"where": p.where, "reason": p.reason} for p in problems],
        )
    for key in PID_KEYS:
        if key in body and (why := pid_problem(body[key])) is not None:
            raise ConnectorError(INVALID_MESSAGE, f"invalid {message_type}: {key} {why}", where=f"$.{key}")
    return cls.from_json(body)


def parse_as(body: Any, cls: type[M]) -> M:
    """`parse_message` for one expected class, typed as that class."""
    message = parse_message(body, expected=cls.TYPE)
    assert isinstance(message, cls)
    return message


def _compact_type(body: dict[Any, Any]) -> str:
    if "@type" not in body:
        raise ConnectorError(INVALID_MESSAGE, "the message has no @type", where=_TYPE_WHERE)
    value = body["@type"]
    if isinstance(value, list):
        raise ConnectorError(
            INVALID_MESSAGE, "@type must be a single compact type name (a string), not an array", where=_TYPE_WHERE
        )
    if not isinstance(value, str):
        raise ConnectorError(INVALID_MESSAGE, f"@type must be a string, not {_json_kind(value)}", where=_TYPE_WHERE)
    if value in MESSAGE_CLASSES:
        return value
    tail = _NAME_TAIL.search(value)
    if tail and tail.group() in MESSAGE_CLASSES and tail.group() != value:
        raise ConnectorError(
            INVALID_MESSAGE,
            f"@type must be the compact term {tail.group()!r} of the DSP 2025-1 context, not {value!r}",
            where=_TYPE_WHERE,
        )
    shown = value if len(value) <= 80 else value[:77] + "..."
    raise ConnectorError("dsp.unknown_message_type", f"{shown!r} is not a DSP 2025-1 message type", where=_TYPE_WHERE)


def _deeper_than(value: Any, limit: int) -> bool:
    # Iterative on purpose: a recursive walk would itself overflow on the input it is meant to refuse.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__
