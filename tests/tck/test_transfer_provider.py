"""TP:01-01 ... TP:03-06: transfer process with the node as provider (TCK.md section 4, "TP").

TP:02-04 is @Disabled in the official TCK and has no test here.
"""

from __future__ import annotations

import pytest
from tck.pipeline import Harness, TransferWithProvider
from tck.scenarios import Expect, Scenario, Send, Verify, Wait, play, scenario
from tck.tck_machines import TransferState as TS

from connector.dsp.vocabulary import TransferMessage as TM

pytestmark = pytest.mark.asyncio(loop_scope="module")

STARTED = (Expect(TM.START), Send("request"), Wait(TS.STARTED))  # the node starts the transfer it was asked for
STARTED_BY_NODE = (STARTED, Verify(TS.STARTED))  # the common head of most scenarios: ... GET-P(STARTED)
LEFT_REQUESTED = (Send("request"), Wait(TS.REQUESTED), Verify(TS.REQUESTED))
TERMINATED_BY_CONSUMER = (STARTED_BY_NODE, Send("termination"), Wait(TS.TERMINATED), Verify(TS.TERMINATED))

SCENARIOS: tuple[Scenario, ...] = (
    scenario(
        "TP:01-01",
        "start, then the provider terminates",
        STARTED,
        (Expect(TM.TERMINATION), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP:01-02",
        "start, then the provider completes",
        STARTED,
        (Expect(TM.COMPLETION), Wait(TS.COMPLETED), Verify(TS.COMPLETED)),
    ),
    scenario(
        "TP:01-03",
        "start, the provider suspends, then terminates",
        STARTED,
        (Expect(TM.SUSPENSION), Wait(TS.SUSPENDED)),
        (Expect(TM.TERMINATION), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP:01-04",
        "start, suspend, resume, then the provider completes",
        STARTED,
        (Expect(TM.SUSPENSION), Wait(TS.SUSPENDED)),
        (Expect(TM.START), Wait(TS.STARTED)),
        (Expect(TM.COMPLETION), Wait(TS.COMPLETED), Verify(TS.COMPLETED)),
    ),
    scenario(
        "TP:01-05",
        "the provider terminates the request",
        (Expect(TM.TERMINATION), Send("request"), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP:02-01",
        "start, then the consumer terminates",
        STARTED_BY_NODE,
        (Send("termination"), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP:02-02",
        "start, then the consumer completes",
        STARTED_BY_NODE,
        (Send("completion"), Wait(TS.COMPLETED), Verify(TS.COMPLETED)),
    ),
    scenario(
        "TP:02-03",
        "start, the consumer suspends, then terminates",
        STARTED_BY_NODE,
        (Send("suspension"), Wait(TS.SUSPENDED), Verify(TS.SUSPENDED)),
        (Send("termination"), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP:02-05",
        "the consumer terminates the request",
        LEFT_REQUESTED,
        (Send("termination"), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP:03-01",
        "a completion while requested is refused",
        LEFT_REQUESTED,
        (Send("completion", refused=True), Wait(TS.REQUESTED), Verify(TS.REQUESTED)),
    ),
    scenario(
        "TP:03-02",
        "a suspension while requested is refused",
        LEFT_REQUESTED,
        (Send("suspension", refused=True), Wait(TS.REQUESTED), Verify(TS.REQUESTED)),
    ),
    scenario(
        "TP:03-03",
        "a completion while suspended is refused",
        STARTED_BY_NODE,
        (Send("suspension"), Wait(TS.SUSPENDED), Verify(TS.SUSPENDED)),
        (Send("completion", refused=True), Wait(TS.SUSPENDED), Verify(TS.SUSPENDED)),
    ),
    scenario(
        "TP:03-04",
        "a start after termination is refused",
        TERMINATED_BY_CONSUMER,
        (Send("start", refused=True), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP:03-05",
        "a suspension after termination is refused",
        TERMINATED_BY_CONSUMER,
        (Send("suspension", refused=True), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP:03-06",
        "a completion after termination is refused",
        TERMINATED_BY_CONSUMER,
        (Send("completion", refused=True), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
)


@pytest.mark.parametrize("case", SCENARIOS, ids=str)
async def test_transfer_with_the_node_as_provider(harness: Harness, case: Scenario) -> None:
    await play(TransferWithProvider(harness, case.sample("AGREEMENTID")), case)
