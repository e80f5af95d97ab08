"""The node retries callbacks the TCK refused with 404 because it was not waiting yet (TCK.md 3.6, races).

The fake TCK runs strict here, as the real TCK does: between two steps of a scenario it answers 404 "No handler
registered on this endpoint". The test waits longer than the node's spacing between two chained messages before
it registers for the second one, so the node's first attempt is refused for sure; the scenario still has to
complete, on a retry.
"""

from __future__ import annotations

import asyncio

import pytest
from tck.pipeline import Harness, NegotiationWithProvider, TransferWithProvider
from tck.tck_machines import NegotiationState as NS
from tck.tck_machines import TransferState as TS

from connector.dsp.vocabulary import NegotiationMessage as NM
from connector.dsp.vocabulary import TransferMessage as TM

pytestmark = pytest.mark.asyncio(loop_scope="module")

LATE_BY = 1.2  # seconds: well past the profile's spacing of chained messages (about 0.5 s)


def refused(harness: Harness, kind: str, pid: str) -> int:
    return sum(1 for r in harness.tck.refused if r.kind == kind and r.key == pid)


async def test_node_retries_a_negotiation_termination_refused_with_404(harness: Harness) -> None:
    harness.tck.strict = True
    run = NegotiationWithProvider(harness, "ACN0205", "CD123:ACN0205:456")  # scripted: offer, then terminate
    offer = run.expect(NM.OFFER)
    await run.send_request()
    await run.wait_for_state(offer, NS.OFFERED)
    await asyncio.sleep(LATE_BY)
    assert refused(harness, NM.TERMINATION, run.pid) >= 1, "the node sent no termination while nobody waited"
    await run.wait_for_state(run.expect(NM.TERMINATION), NS.TERMINATED)
    run.finish()


async def test_node_retries_a_transfer_termination_refused_with_404(harness: Harness) -> None:
    harness.tck.strict = True
    run = TransferWithProvider(harness, "ATP0101")  # scripted: start, then terminate
    start = run.expect(TM.START)
    await run.send_request()
    await run.wait_for_state(start, TS.STARTED)
    await asyncio.sleep(LATE_BY)
    assert refused(harness, TM.TERMINATION, run.pid) >= 1, "the node sent no termination while nobody waited"
    await run.wait_for_state(run.expect(TM.TERMINATION), TS.TERMINATED)
    await run.verify_provider_state(TS.TERMINATED)
    run.finish()
