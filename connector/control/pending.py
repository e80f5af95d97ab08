"""The step our side owes next in a negotiation or transfer, as a typed value.

A process whose next move is ours keeps that move in its record's `pending` column until the engine performs it
(right after the commit, or after a restart). The column holds the step's name, and for a termination or a
suspension the reason after a colon ("terminate:the agreement is not what was requested"): that text is what
the store and the management API show, so `encode` and `decode` keep exactly that form.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class StepName(StrEnum):
    # negotiation, provider
    DECIDE = "decide"  # decide on a request: agree to it or refuse it
    AGREE = "agree"  # send the agreement (after the consumer accepted our offer, or as the conformance profile says)
    OFFER = "offer"  # counter with the dataset's offer (conformance profile)
    FINALIZE = "finalize"  # the consumer verified the agreement: finalize it
    # negotiation, consumer
    CONSIDER_OFFER = "consider-offer"  # accept an offer that is what we asked for; anything else waits for a person
    ACCEPT = "accept"
    COUNTER = "counter"  # send the offer on the table back as our request (conformance profile)
    VERIFY = "verify"  # check the agreement against our request, then verify it
    # transfer
    START = "start"  # provider: start or resume the transfer, if the agreement still permits it
    COMPLETE = "complete"
    SUSPEND = "suspend"
    # both
    TERMINATE = "terminate"


@dataclass(frozen=True)
class PendingStep:
    name: StepName
    argument: str | None = None  # the reason of a termination or suspension

    def encode(self) -> str:
        """As stored in the `pending` column."""
        return self.name.value if self.argument is None else f"{self.name.value}:{self.argument}"

    @staticmethod
    def decode(text: str) -> PendingStep | None:
        """The step stored as `text`, or None if no step has that name."""
        name, colon, argument = text.partition(":")
        try:
            return PendingStep(StepName(name), argument if colon else None)
        except ValueError:
            return None


def encoded(step: PendingStep | None) -> str | None:
    return None if step is None else step.encode()


DECIDE = PendingStep(StepName.DECIDE)
AGREE = PendingStep(StepName.AGREE)
OFFER = PendingStep(StepName.OFFER)
FINALIZE = PendingStep(StepName.FINALIZE)
CONSIDER_OFFER = PendingStep(StepName.CONSIDER_OFFER)
ACCEPT = PendingStep(StepName.ACCEPT)
COUNTER = PendingStep(StepName.COUNTER)
VERIFY = PendingStep(StepName.VERIFY)
START = PendingStep(StepName.START)
COMPLETE = PendingStep(StepName.COMPLETE)
SUSPEND = PendingStep(StepName.SUSPEND)
TERMINATE = PendingStep(StepName.TERMINATE)


def terminate(reason: str) -> PendingStep:
    return PendingStep(StepName.TERMINATE, reason)
