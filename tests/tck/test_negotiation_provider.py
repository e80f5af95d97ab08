"""CN:01-01 ... CN:03-04: contract negotiation with the node as provider (TCK.md section 4, "CN").

Each scenario follows the TCK's sequence step by step; `Expect(...)` stands where the TCK registers its handler,
which for some scenarios is only after the step that triggers the node's message (as in the TCK).
"""

from __future__ import annotations

import pytest
from tck.pipeline import Harness, NegotiationWithProvider
from tck.scenarios import Expect, Scenario, Send, Verify, Wait, play, scenario
from tck.tck_machines import NegotiationState as NS

from connector.dsp.vocabulary import NegotiationMessage as NM

pytestmark = pytest.mark.asyncio(loop_scope="module")

OFFERED = (Expect(NM.OFFER), Send("request"), Wait(NS.OFFERED))  # the node answers the request with an offer
AGREED = (Expect(NM.AGREEMENT), Send("request"), Wait(NS.AGREED))  # the node agrees to the request at once

SCENARIOS: tuple[Scenario, ...] = (
    scenario(
        "CN:01-01",
        "offer, then the consumer terminates",
        OFFERED,
        (Send("termination"), Verify(NS.TERMINATED)),
    ),
    scenario(
        "CN:01-02",
        "offer, counter-offer, the provider terminates",
        OFFERED,
        (Expect(NM.TERMINATION), Send("counter-offer"), Wait(NS.TERMINATED)),
    ),
    scenario(
        "CN:01-03",
        "offer, accept, agree, verify, finalize",
        OFFERED,
        (Expect(NM.AGREEMENT), Send("accept"), Wait(NS.AGREED)),
        (Expect(NM.FINALIZED), Send("verification"), Wait(NS.FINALIZED)),
    ),
    scenario(
        "CN:01-04",
        "agree, verify, finalize",
        AGREED,
        (Expect(NM.FINALIZED), Send("verification"), Wait(NS.FINALIZED)),
    ),
    scenario(
        "CN:02-01",
        "the provider terminates after the request",
        Send("request"),
        (Expect(NM.TERMINATION), Wait(NS.TERMINATED)),  # the TCK registers this handler only after the request
    ),
    scenario(
        "CN:02-02",
        "the consumer terminates the request",
        (Send("request"), Send("termination"), Verify(NS.TERMINATED)),
    ),
    scenario(
        "CN:02-03",
        "agreement, then the consumer terminates",
        AGREED,
        (Send("termination"), Verify(NS.TERMINATED)),
    ),
    scenario(
        "CN:02-04",
        "offer, then the consumer terminates",
        OFFERED,
        (Send("termination"), Verify(NS.TERMINATED)),
    ),
    scenario(
        "CN:02-05",
        "offer, then the provider terminates",
        OFFERED,
        (Expect(NM.TERMINATION), Wait(NS.TERMINATED)),
    ),
    scenario(
        "CN:02-06",
        "accept, then the provider terminates",
        OFFERED,
        (Send("accept"), Expect(NM.TERMINATION), Wait(NS.TERMINATED)),
    ),
    scenario(
        "CN:02-07",
        "verify, then the provider terminates",
        AGREED,
        (Expect(NM.TERMINATION), Send("verification"), Wait(NS.TERMINATED)),
    ),
    scenario(
        "CN:03-01",
        "a termination after finalized is refused",
        AGREED,
        (Expect(NM.FINALIZED), Send("verification"), Wait(NS.FINALIZED), Verify(NS.FINALIZED)),
        Send("termination", refused=True),
    ),
    scenario(
        "CN:03-02",
        "a verification while offered is refused",
        OFFERED,
        Send("verification", refused=True),
    ),
    scenario(
        "CN:03-03",
        "a verification while accepted is refused",
        OFFERED,
        (Send("accept"), Send("verification", refused=True)),
    ),
    scenario(
        "CN:03-04",
        "a second counter-offer is refused",
        OFFERED,
        (Send("counter-offer"), Send("counter-offer", refused=True)),
    ),
)


@pytest.mark.parametrize("case", SCENARIOS, ids=str)
async def test_negotiation_with_the_node_as_provider(harness: Harness, case: Scenario) -> None:
    await play(NegotiationWithProvider(harness, case.sample("DATASETID"), case.sample("OFFERID")), case)
