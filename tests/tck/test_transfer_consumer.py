"""TP_C:01-01 ... TP_C:03-06: transfer process with the node as consumer (TCK.md section 4, "TP_C").

Every scenario starts with the TCK calling the node's transfer webhook; the node then sends its
TransferRequestMessage to the fake TCK. The TCK's start messages carry a pull address at http://example.com,
which the node cannot reach and must not let change the DSP state. TP_C:02-04 is @Disabled in the official TCK
and has no test here. TP_C:01-05 uses ATPC0104, the (mistaken) value of the TCK's sample configuration, so it
also checks that a second transfer under the same agreement works.
"""

from __future__ import annotations

import pytest
from tck.pipeline import Harness, TransferWithConsumer
from tck.scenarios import Expect, Scenario, Send, Verify, Wait, play, scenario
from tck.tck_machines import TransferState as TS

from connector.dsp.vocabulary import TransferMessage as TM

pytestmark = pytest.mark.asyncio(loop_scope="module")

INITIATE = Send("initiate")  # the webhook; the node's request arrives and the TCK's process is REQUESTED
START = Send("start", pull_address=True)  # the TCK's start message, with its unreachable pull address
STARTED = (INITIATE, START, Wait(TS.STARTED), Verify(TS.STARTED))  # the head of the 01 and 03 scenarios
TERMINATED_BY_PROVIDER = (
    (INITIATE, Verify(TS.REQUESTED)),
    (START, Wait(TS.STARTED), Verify(TS.STARTED)),
    (Send("termination"), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
)

SCENARIOS: tuple[Scenario, ...] = (
    scenario(
        "TP_C:01-01",
        "start, then the provider terminates",
        STARTED,
        (Send("termination"), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP_C:01-02",
        "start, then the provider completes",
        STARTED,
        (Send("completion"), Wait(TS.COMPLETED), Verify(TS.COMPLETED)),
    ),
    scenario(
        "TP_C:01-03",
        "start, the provider suspends, then terminates",
        STARTED,
        (Send("suspension"), Wait(TS.SUSPENDED), Verify(TS.SUSPENDED)),
        (Send("termination"), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP_C:01-04",
        "start, suspend, restart, then the provider completes",
        STARTED,
        (Send("suspension"), Wait(TS.SUSPENDED), Verify(TS.SUSPENDED)),
        (START, Wait(TS.STARTED), Verify(TS.STARTED)),
        (Send("completion"), Wait(TS.COMPLETED), Verify(TS.COMPLETED)),
    ),
    scenario(
        "TP_C:01-05",
        "the provider terminates the request",
        INITIATE,
        (Send("termination"), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP_C:02-01",
        "start, then the consumer terminates",
        INITIATE,
        (Expect(TM.TERMINATION), START, Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP_C:02-02",
        "start, then the consumer completes",
        INITIATE,
        (Expect(TM.COMPLETION), START, Wait(TS.COMPLETED), Verify(TS.COMPLETED)),
    ),
    scenario(
        "TP_C:02-03",
        "start, the consumer suspends, then terminates",
        INITIATE,
        (Expect(TM.SUSPENSION), START, Wait(TS.SUSPENDED)),
        (Expect(TM.TERMINATION), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP_C:02-05",
        "the consumer terminates after its request",
        INITIATE,
        Expect(TM.TERMINATION),  # the TCK registers this handler only after the request
        (Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP_C:03-01",
        "a completion while requested is refused",
        (INITIATE, Verify(TS.REQUESTED)),
        (Send("completion", refused=True), Wait(TS.REQUESTED), Verify(TS.REQUESTED)),
    ),
    scenario(
        "TP_C:03-02",
        "a suspension while requested is refused",
        (INITIATE, Verify(TS.REQUESTED)),
        (Send("suspension", refused=True), Wait(TS.REQUESTED), Verify(TS.REQUESTED)),
    ),
    scenario(
        "TP_C:03-03",
        "a completion while suspended is refused",
        (INITIATE, Verify(TS.REQUESTED)),
        (START, Wait(TS.STARTED), Verify(TS.STARTED)),
        (Send("suspension"), Wait(TS.SUSPENDED), Verify(TS.SUSPENDED)),
        (Send("completion", refused=True), Wait(TS.SUSPENDED), Verify(TS.SUSPENDED)),
    ),
    scenario(
        "TP_C:03-04",
        "a start after termination is refused",
        TERMINATED_BY_PROVIDER,
        (Send("start", refused=True), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP_C:03-05",
        "a suspension after termination is refused",
        TERMINATED_BY_PROVIDER,
        (Send("suspension", refused=True), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
    scenario(
        "TP_C:03-06",
        "a completion after termination is refused",
        TERMINATED_BY_PROVIDER,
        (Send("completion", refused=True), Wait(TS.TERMINATED), Verify(TS.TERMINATED)),
    ),
)


@pytest.mark.parametrize("case", SCENARIOS, ids=str)
async def test_transfer_with_the_node_as_consumer(harness: Harness, case: Scenario) -> None:
    await play(TransferWithConsumer(harness, case.sample("AGREEMENTID")), case)
