"""The messages the TCK puts on the wire, in the compact form its JSON-LD serializer produces.

Built by hand from TCK.md (sections 3.3, 3.6 and 4) rather than with the project's own message classes, so that
the node is judged against an independent picture of the TCK. They carry the TCK's extra keys on purpose
(message-level `@id`, `assigner`/`assignee` on offers, `callbackAddress` in the agreement message, `code: "1"` on
terminations and suspensions): a conformant node must tolerate them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from connector.dsp.vocabulary import DSP_CONTEXT

TCK_PARTICIPANT = "TCK_PARTICIPANT"
TCK_CODE = "1"  # the code the TCK puts on every termination and suspension
OFFER_PREFIX = "offer"
PULL_ENDPOINT = "http://example.com"
PULL_ENDPOINT_TYPE = "https://w3id.org/idsa/v4.1/HTTP"

Json = dict[str, Any]


def new_id() -> str:
    """The TCK names its processes and messages with plain random UUIDs (not URNs)."""
    return str(uuid.uuid4())


def offer_id_for(dataset_id: str) -> str:
    return OFFER_PREFIX + dataset_id


def dataset_id_from_offer(offer_id: str) -> str | None:
    """The TCK's reverse mapping; None when the offer id does not start with the prefix (the TCK throws)."""
    return offer_id[len(OFFER_PREFIX) :] if offer_id.startswith(OFFER_PREFIX) else None


def _message(kind: str, **properties: Any) -> Json:
    body: Json = {"@context": [DSP_CONTEXT], "@id": new_id(), "@type": kind}
    body.update((key, value) for key, value in properties.items() if value is not None)
    return body


def _use_permission() -> list[Json]:
    return [{"action": "use"}]


# --- catalogue ----------------------------------------------------------------------------------------------


def catalog_request() -> Json:
    return _message("CatalogRequestMessage")


# --- negotiation, TCK as consumer ---------------------------------------------------------------------------


def contract_request(consumer_pid: str, offer_id: str, dataset_id: str, callback_address: str) -> Json:
    """The initial request: no providerPid, a callbackAddress, the offer as the TCK states it."""
    offer = {"@id": offer_id, "target": dataset_id, "@type": "Offer", "permission": _use_permission()}
    return _message("ContractRequestMessage", consumerPid=consumer_pid, offer=offer, callbackAddress=callback_address)


def counter_offer(
    provider_pid: str, consumer_pid: str, offer_id: str, assigner: str | None, assignee: str, target: str
) -> Json:
    """A ContractRequestMessage in an existing negotiation: both pids, no callbackAddress."""
    return _message(
        "ContractRequestMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        offer=_offer(offer_id, assigner, assignee, target),
    )


def accepted_event(provider_pid: str, consumer_pid: str) -> Json:
    return _event(provider_pid, consumer_pid, "ACCEPTED")


def verification(provider_pid: str, consumer_pid: str) -> Json:
    return _message("ContractAgreementVerificationMessage", providerPid=provider_pid, consumerPid=consumer_pid)


def negotiation_termination(provider_pid: str, consumer_pid: str) -> Json:
    return _message(
        "ContractNegotiationTerminationMessage", providerPid=provider_pid, consumerPid=consumer_pid, code=TCK_CODE
    )


# --- negotiation, TCK as provider ---------------------------------------------------------------------------


def contract_offer(
    provider_pid: str, consumer_pid: str, offer_id: str, assigner: str, assignee: str, target: str
) -> Json:
    """An offer in an existing negotiation: consumerPid, and no callbackAddress."""
    return _message(
        "ContractOfferMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        offer=_offer(offer_id, assigner, assignee, target),
    )


def contract_agreement(
    provider_pid: str,
    consumer_pid: str,
    agreement_id: str,
    assigner: str,
    assignee: str,
    target: str,
    callback_address: str,
    timestamp: str | None = None,
) -> Json:
    agreement = {
        "@type": "Agreement",
        "@id": agreement_id,
        "target": target,
        "permission": _use_permission(),
        "timestamp": timestamp or iso_instant(datetime.now(UTC)),
        "assignee": assignee,
        "assigner": assigner,
    }
    return _message(
        "ContractAgreementMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        agreement=agreement,
        callbackAddress=callback_address,
    )


def finalized_event(provider_pid: str, consumer_pid: str) -> Json:
    return _event(provider_pid, consumer_pid, "FINALIZED")


def negotiation_initiation(dataset_id: str, offer_id: str, connector_address: str) -> Json:
    """Body of the node's negotiation webhook: plain JSON, no JSON-LD."""
    return {
        "providerId": TCK_PARTICIPANT,
        "offerId": offer_id,
        "datasetId": dataset_id,
        "connectorAddress": connector_address,
    }


def _offer(offer_id: str, assigner: str | None, assignee: str, target: str) -> Json:
    offer = {
        "@type": "Offer",
        "@id": offer_id,
        "permission": _use_permission(),
        "target": target,
        "assignee": assignee,
        "assigner": assigner,
    }
    # The TCK's serializer drops null values: a party it does not know is simply absent.
    return {key: value for key, value in offer.items() if value is not None}


def _event(provider_pid: str, consumer_pid: str, event_type: str) -> Json:
    return _message(
        "ContractNegotiationEventMessage", providerPid=provider_pid, consumerPid=consumer_pid, eventType=event_type
    )


# --- transfer -----------------------------------------------------------------------------------------------


def transfer_request(consumer_pid: str, agreement_id: str, transfer_format: str, callback_address: str) -> Json:
    return _message(
        "TransferRequestMessage",
        consumerPid=consumer_pid,
        agreementId=agreement_id,
        format=transfer_format,
        callbackAddress=callback_address,
    )


def transfer_start(provider_pid: str, consumer_pid: str, data_address: Json | None = None) -> Json:
    return _message(
        "TransferStartMessage", providerPid=provider_pid, consumerPid=consumer_pid, dataAddress=data_address
    )


def transfer_completion(provider_pid: str, consumer_pid: str) -> Json:
    return _message("TransferCompletionMessage", providerPid=provider_pid, consumerPid=consumer_pid)


def transfer_suspension(provider_pid: str, consumer_pid: str) -> Json:
    return _message("TransferSuspensionMessage", providerPid=provider_pid, consumerPid=consumer_pid, code=TCK_CODE)


def transfer_termination(provider_pid: str, consumer_pid: str) -> Json:
    return _message("TransferTerminationMessage", providerPid=provider_pid, consumerPid=consumer_pid, code=TCK_CODE)


def pull_data_address() -> Json:
    """The address the TCK puts in its start messages; the endpoint is deliberately unreachable."""
    return {"@type": "DataAddress", "endpoint": PULL_ENDPOINT, "endpointType": PULL_ENDPOINT_TYPE}


def transfer_initiation(agreement_id: str, transfer_format: str, connector_address: str) -> Json:
    """Body of the node's transfer webhook: plain JSON, no JSON-LD."""
    return {
        "providerId": TCK_PARTICIPANT,
        "agreementId": agreement_id,
        "format": transfer_format,
        "connectorAddress": connector_address,
    }


# --- the TCK's answers to the node --------------------------------------------------------------------------


def contract_negotiation(provider_pid: str, consumer_pid: str, state: str) -> Json:
    return _message("ContractNegotiation", providerPid=provider_pid, consumerPid=consumer_pid, state=state)


def transfer_process(provider_pid: str, consumer_pid: str, state: str) -> Json:
    return _message("TransferProcess", providerPid=provider_pid, consumerPid=consumer_pid, state=state)


def negotiation_error(provider_pid: str, consumer_pid: str, reason: str) -> Json:
    return _message(
        "ContractNegotiationError", providerPid=provider_pid, consumerPid=consumer_pid, code="409", reason=[reason]
    )


def transfer_error(provider_pid: str, consumer_pid: str, reason: str) -> Json:
    return _message("TransferError", providerPid=provider_pid, consumerPid=consumer_pid, code="409", reason=[reason])


def iso_instant(moment: datetime) -> str:
    """Java's ISO_INSTANT: UTC with a `Z`, fractional seconds only when there are any."""
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text + "Z"
