"""CN_C:01-01 ... CN_C:03-06: contract negotiation with the node as consumer (TCK.md section 4, "CN_C").

Every scenario starts with the TCK calling the node's negotiation webhook; the node then sends its initial
ContractRequestMessage (offer `offer<dataset>`) to the fake TCK, which answers as the provider.
"""

from __future__ import annotations

import pytest
from tck.pipeline import Harness, NegotiationWithConsumer
from tck.scenarios import Expect, Lacks, Scenario, Send, Verify, Wait, play, scenario
from tck.tck_machines import NegotiationState as NS

from connector.dsp.vocabulary import NegotiationMessage as NM

pytestmark = pytest.mark.asyncio(loop_scope="module")

INITIATE = Send("initiate")  # the webhook; the node's request arrives and the TCK's process is REQUESTED

SCENARIOS: tuple[Scenario, ...] = (
    scenario(
        "CN_C:01-01",
        "offer, accept, agree, verify, finalize",
        INITIATE,
        (Expect(NM.ACCEPTED), Send("offer"), Wait(NS.ACCEPTED)),
        (Expect(NM.VERIFICATION), Send("agreement"), Wait(NS.VERIFIED)),
        (Send("finalized"), Verify(NS.FINALIZED)),
    ),
    scenario(
        "CN_C:01-02",
        "offer, counter-offer, the provider terminates",
        INITIATE,
        (Expect(NM.REQUEST), Send("offer"), Wait(NS.REQUESTED), Lacks("callbackAddress")),
        (Send("termination"), Wait(NS.TERMINATED)),
    ),
    scenario(
        "CN_C:01-03",
        "offer, then the consumer terminates",
        INITIATE,
        (Expect(NM.TERMINATION), Send("offer"), Wait(NS.TERMINATED), Verify(NS.TERMINATED)),
    ),
    scenario(
        "CN_C:01-04",
        "agreement, verify, finalize",
        INITIATE,
        (Expect(NM.VERIFICATION), Send("agreement"), Wait(NS.VERIFIED)),
        (Send("finalized"), Verify(NS.FINALIZED)),
    ),
    scenario(
        "CN_C:02-01",
        "the provider terminates the request",
        INITIATE,
        (Send("termination"), Wait(NS.TERMINATED), Verify(NS.TERMINATED)),
    ),
    scenario(
        "CN_C:02-02",
        "the consumer terminates after its request",
        INITIATE,
        Expect(NM.TERMINATION),  # the TCK registers this handler only after the request
        (Wait(NS.TERMINATED), Verify(NS.TERMINATED)),
    ),
    scenario(
        "CN_C:02-03",
        "agreement, then the consumer terminates",
        INITIATE,
        (Expect(NM.TERMINATION), Send("agreement"), Wait(NS.TERMINATED), Verify(NS.TERMINATED)),
    ),
    scenario(
        "CN_C:02-04",
        "the offer is kept, then the provider terminates",
        INITIATE,
        (Send("offer"), Wait(NS.OFFERED), Verify(NS.OFFERED)),
        (Send("termination"), Wait(NS.TERMINATED), Verify(NS.TERMINATED)),
    ),
    scenario(
        "CN_C:02-05",
        "accept, then the provider terminates",
        INITIATE,
        (Expect(NM.ACCEPTED), Send("offer"), Wait(NS.ACCEPTED)),
        (Send("termination"), Wait(NS.TERMINATED), Verify(NS.TERMINATED)),
    ),
    scenario(
        "CN_C:02-06",
        "verify, then the provider terminates",
        INITIATE,
        (Expect(NM.VERIFICATION), Send("agreement"), Wait(NS.VERIFIED)),
        (Send("termination"), Verify(NS.TERMINATED)),
    ),
    scenario(
        "CN_C:03-01",
        "a finalized event while requested is refused",
        INITIATE,
        (Send("finalized", refused=True), Verify(NS.REQUESTED)),
    ),
    scenario(
        "CN_C:03-02",
        "an agreement while offered is refused",
        INITIATE,
        (Send("offer"), Wait(NS.OFFERED), Verify(NS.OFFERED)),
        (Send("agreement", refused=True), Verify(NS.OFFERED)),
    ),
    scenario(
        "CN_C:03-03",
        "a finalized event while offered is refused",
        INITIATE,
        (Send("offer"), Wait(NS.OFFERED)),
        (Send("finalized", refused=True), Verify(NS.OFFERED)),
    ),
    scenario(
        "CN_C:03-04",
        "a finalized event while accepted is refused",
        INITIATE,
        (Expect(NM.ACCEPTED), Send("offer"), Wait(NS.ACCEPTED)),
        (Send("finalized", refused=True), Verify(NS.ACCEPTED)),
    ),
    scenario(
        "CN_C:03-05",
        "an offer while accepted is refused",
        INITIATE,
        (Expect(NM.ACCEPTED), Send("offer"), Wait(NS.ACCEPTED)),
        (Send("offer", refused=True), Verify(NS.ACCEPTED)),
    ),
    scenario(
        "CN_C:03-06",
        "a finalized event while agreed is refused",
        INITIATE,
        (Expect(NM.ACCEPTED), Send("offer"), Wait(NS.ACCEPTED)),
        (Send("agreement"), Wait(NS.AGREED)),
        (Send("finalized", refused=True), Verify(NS.AGREED)),
    ),
)


@pytest.mark.parametrize("case", SCENARIOS, ids=str)
async def test_negotiation_with_the_node_as_consumer(harness: Harness, case: Scenario) -> None:
    await play(NegotiationWithConsumer(harness, case.sample("DATASETID")), case)
