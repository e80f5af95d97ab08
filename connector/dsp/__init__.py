"""The Dataspace Protocol 2025-1 core, sans I/O: messages, schema validation, catalogue documents and the
negotiation and transfer state machines.

A protocol handler does, in order:

    msg = messages.parse_message(body, expected="ContractRequestMessage")    # or raises ConnectorError (-> 400)
    outcome = negotiation_machine.receive(Role.PROVIDER, state, msg.kind)
    if isinstance(outcome, TransitionRefusal):
        reply 400 with ContractNegotiationError.from_problem(outcome.problem, ...)
    else: persist outcome.target, reply ContractNegotiation(...).to_json()

The messages (`connector.dsp.messages`: their classes, parsing and schema validation) are not imported with the
package: a node loads them with the first DSP message it receives or sends.

The official schemas, contexts and examples are vendored unchanged in `spec/` (Apache-2.0, see spec/NOTICE.md).
"""

from connector.dsp import negotiation_machine, transfer_machine
from connector.dsp.process_machine import Transition, TransitionRefusal
from connector.dsp.vocabulary import (
    DSP_CONTEXT,
    PROTOCOL_VERSION,
    MessageType,
    NegotiationEvent,
    NegotiationMessage,
    NegotiationState,
    Role,
    TransferMessage,
    TransferState,
)

__all__ = [
    "DSP_CONTEXT",
    "PROTOCOL_VERSION",
    "MessageType",
    "NegotiationEvent",
    "NegotiationMessage",
    "NegotiationState",
    "TransitionRefusal",
    "Role",
    "TransferMessage",
    "TransferState",
    "Transition",
    "negotiation_machine",
    "transfer_machine",
]
