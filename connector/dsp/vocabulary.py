"""The Dataspace Protocol 2025-1 vocabulary: context URLs, message type names, process states, roles.

Every name here is the compact JSON-LD term of the official 2025-1 context, which is also what goes on the wire:
peers (and the TCK) expand our messages with that context only, so bare terms are the only safe spelling.
"""

from __future__ import annotations

from enum import StrEnum

PROTOCOL_VERSION = "2025-1"
DSP_NAMESPACE = "https://w3id.org/dspace/2025/1/"
DSP_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
ODRL_PROFILE_CONTEXT = "https://w3id.org/dspace/2025/1/odrl-profile.jsonld"


class Role(StrEnum):
    """Which side of a negotiation or transfer a participant is on."""

    PROVIDER = "provider"
    CONSUMER = "consumer"

    @property
    def peer(self) -> Role:
        return Role.CONSUMER if self is Role.PROVIDER else Role.PROVIDER


class MessageType(StrEnum):
    """The compact `@type` of every DSP message, response and error body."""

    # catalog
    CATALOG_REQUEST = "CatalogRequestMessage"
    DATASET_REQUEST = "DatasetRequestMessage"
    CATALOG = "Catalog"
    DATASET = "Dataset"
    CATALOG_ERROR = "CatalogError"
    # contract negotiation
    CONTRACT_REQUEST = "ContractRequestMessage"
    CONTRACT_OFFER = "ContractOfferMessage"
    CONTRACT_AGREEMENT = "ContractAgreementMessage"
    CONTRACT_AGREEMENT_VERIFICATION = "ContractAgreementVerificationMessage"
    CONTRACT_NEGOTIATION_EVENT = "ContractNegotiationEventMessage"
    CONTRACT_NEGOTIATION_TERMINATION = "ContractNegotiationTerminationMessage"
    CONTRACT_NEGOTIATION = "ContractNegotiation"
    CONTRACT_NEGOTIATION_ERROR = "ContractNegotiationError"
    # transfer process
    TRANSFER_REQUEST = "TransferRequestMessage"
    TRANSFER_START = "TransferStartMessage"
    TRANSFER_SUSPENSION = "TransferSuspensionMessage"
    TRANSFER_COMPLETION = "TransferCompletionMessage"
    TRANSFER_TERMINATION = "TransferTerminationMessage"
    TRANSFER_PROCESS = "TransferProcess"
    TRANSFER_ERROR = "TransferError"


class NegotiationState(StrEnum):
    REQUESTED = "REQUESTED"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"

    @property
    def is_terminal(self) -> bool:
        return self in (NegotiationState.FINALIZED, NegotiationState.TERMINATED)


class NegotiationEvent(StrEnum):
    """`eventType` of a ContractNegotiationEventMessage."""

    ACCEPTED = "ACCEPTED"
    FINALIZED = "FINALIZED"


class TransferState(StrEnum):
    REQUESTED = "REQUESTED"
    STARTED = "STARTED"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    TERMINATED = "TERMINATED"

    @property
    def is_terminal(self) -> bool:
        return self in (TransferState.COMPLETED, TransferState.TERMINATED)


class NegotiationMessage(StrEnum):
    """What the negotiation state machine reacts to: the message type, and for event messages also the event,
    because an ACCEPTED and a FINALIZED event are different moves made by different roles."""

    REQUEST = "ContractRequestMessage"
    OFFER = "ContractOfferMessage"
    AGREEMENT = "ContractAgreementMessage"
    VERIFICATION = "ContractAgreementVerificationMessage"
    ACCEPTED = "ContractNegotiationEventMessage:ACCEPTED"
    FINALIZED = "ContractNegotiationEventMessage:FINALIZED"
    TERMINATION = "ContractNegotiationTerminationMessage"

    @property
    def label(self) -> str:
        """How a person reads it: 'ContractNegotiationEventMessage (ACCEPTED)'."""
        name, _, event = self.value.partition(":")
        return f"{name} ({event})" if event else name


class TransferMessage(StrEnum):
    """What the transfer state machine reacts to."""

    REQUEST = "TransferRequestMessage"
    START = "TransferStartMessage"
    SUSPENSION = "TransferSuspensionMessage"
    COMPLETION = "TransferCompletionMessage"
    TERMINATION = "TransferTerminationMessage"

    @property
    def label(self) -> str:
        return self.value
