"""CN_C:01-01 ... CN_C:03-06: contract negotiation with the node as consumer (TCK.md section 4, "CN_C").

Every scenario starts with the TCK calling the node's negotiation webhook; the node then sends its initial
ContractRequestMessage (offer `offer<dataset>`) to the fake TCK, which answers as the provider.
"""

from __future__ import annotations

import pytest
from tck.pipeline import Harness, NegotiationWithConsumer
from tck.tck_machines import NegotiationState as NS

from connector.dsp.vocabulary import NegotiationMessage as NM

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def started(harness: Harness, dataset_id: str) -> NegotiationWithConsumer:
    run = NegotiationWithConsumer(harness, dataset_id)
    await run.initiate()
    return run


async def test_CN_C_01_01_offer_accept_agree_verify_finalize(harness: Harness) -> None:
    run = await started(harness, "ACNC0101")
    accepted = run.expect(NM.ACCEPTED)
    await run.send_offer()
    await run.wait_for_state(accepted, NS.ACCEPTED)
    verification = run.expect(NM.VERIFICATION)
    await run.send_agreement()
    await run.wait_for_state(verification, NS.VERIFIED)
    await run.send_finalized()
    await run.verify_consumer_state(NS.FINALIZED)
    run.finish()


async def test_CN_C_01_02_offer_counter_offer_provider_terminates(harness: Harness) -> None:
    run = await started(harness, "ACNC0102")
    counter_offer = run.expect(NM.REQUEST)
    await run.send_offer()
    received = await run.wait_for_state(counter_offer, NS.REQUESTED)
    assert received is not None and "callbackAddress" not in received.body
    await run.send_termination()
    await run.wait_for_state(None, NS.TERMINATED)
    run.finish()


async def test_CN_C_01_03_offer_then_consumer_terminates(harness: Harness) -> None:
    run = await started(harness, "ACNC0103")
    termination = run.expect(NM.TERMINATION)
    await run.send_offer()
    await run.wait_for_state(termination, NS.TERMINATED)
    await run.verify_consumer_state(NS.TERMINATED)
    run.finish()


async def test_CN_C_01_04_agreement_verify_finalize(harness: Harness) -> None:
    run = await started(harness, "ACNC0104")
    verification = run.expect(NM.VERIFICATION)
    await run.send_agreement()
    await run.wait_for_state(verification, NS.VERIFIED)
    await run.send_finalized()
    await run.verify_consumer_state(NS.FINALIZED)
    run.finish()


async def test_CN_C_02_01_provider_terminates_requested(harness: Harness) -> None:
    run = await started(harness, "ACNC0201")
    await run.send_termination()
    await run.wait_for_state(None, NS.TERMINATED)
    await run.verify_consumer_state(NS.TERMINATED)
    run.finish()


async def test_CN_C_02_02_consumer_terminates_after_request(harness: Harness) -> None:
    run = await started(harness, "ACNC0202")
    termination = run.expect(NM.TERMINATION)  # the TCK registers this handler only after the request
    await run.wait_for_state(termination, NS.TERMINATED)
    await run.verify_consumer_state(NS.TERMINATED)
    run.finish()


async def test_CN_C_02_03_agreement_then_consumer_terminates(harness: Harness) -> None:
    run = await started(harness, "ACNC0203")
    termination = run.expect(NM.TERMINATION)
    await run.send_agreement()
    await run.wait_for_state(termination, NS.TERMINATED)
    await run.verify_consumer_state(NS.TERMINATED)
    run.finish()


async def test_CN_C_02_04_offer_kept_then_provider_terminates(harness: Harness) -> None:
    run = await started(harness, "ACNC0204")
    await run.send_offer()
    await run.wait_for_state(None, NS.OFFERED)
    await run.verify_consumer_state(NS.OFFERED)
    await run.send_termination()
    await run.wait_for_state(None, NS.TERMINATED)
    await run.verify_consumer_state(NS.TERMINATED)
    run.finish()


async def test_CN_C_02_05_accept_then_provider_terminates(harness: Harness) -> None:
    run = await started(harness, "ACNC0205")
    accepted = run.expect(NM.ACCEPTED)
    await run.send_offer()
    await run.wait_for_state(accepted, NS.ACCEPTED)
    await run.send_termination()
    await run.wait_for_state(None, NS.TERMINATED)
    await run.verify_consumer_state(NS.TERMINATED)
    run.finish()


async def test_CN_C_02_06_verify_then_provider_terminates(harness: Harness) -> None:
    run = await started(harness, "ACNC0206")
    verification = run.expect(NM.VERIFICATION)
    await run.send_agreement()
    await run.wait_for_state(verification, NS.VERIFIED)
    await run.send_termination()
    await run.verify_consumer_state(NS.TERMINATED)
    run.finish()


async def test_CN_C_03_01_finalized_while_requested_is_refused(harness: Harness) -> None:
    run = await started(harness, "ACNC0301")
    await run.send_finalized(expect_error=True)
    await run.verify_consumer_state(NS.REQUESTED)
    run.finish()


async def test_CN_C_03_02_agreement_while_offered_is_refused(harness: Harness) -> None:
    run = await started(harness, "ACNC0302")
    await run.send_offer()
    await run.wait_for_state(None, NS.OFFERED)
    await run.verify_consumer_state(NS.OFFERED)
    await run.send_agreement(expect_error=True)
    await run.verify_consumer_state(NS.OFFERED)
    run.finish()


async def test_CN_C_03_03_finalized_while_offered_is_refused(harness: Harness) -> None:
    run = await started(harness, "ACNC0303")
    await run.send_offer()
    await run.wait_for_state(None, NS.OFFERED)
    await run.send_finalized(expect_error=True)
    await run.verify_consumer_state(NS.OFFERED)
    run.finish()


async def test_CN_C_03_04_finalized_while_accepted_is_refused(harness: Harness) -> None:
    run = await started(harness, "ACNC0304")
    accepted = run.expect(NM.ACCEPTED)
    await run.send_offer()
    await run.wait_for_state(accepted, NS.ACCEPTED)
    await run.send_finalized(expect_error=True)
    await run.verify_consumer_state(NS.ACCEPTED)
    run.finish()


async def test_CN_C_03_05_offer_while_accepted_is_refused(harness: Harness) -> None:
    run = await started(harness, "ACNC0305")
    accepted = run.expect(NM.ACCEPTED)
    await run.send_offer()
    await run.wait_for_state(accepted, NS.ACCEPTED)
    await run.send_offer(expect_error=True)
    await run.verify_consumer_state(NS.ACCEPTED)
    run.finish()


async def test_CN_C_03_06_finalized_while_agreed_is_refused(harness: Harness) -> None:
    run = await started(harness, "ACNC0306")
    accepted = run.expect(NM.ACCEPTED)
    await run.send_offer()
    await run.wait_for_state(accepted, NS.ACCEPTED)
    await run.send_agreement()
    await run.wait_for_state(None, NS.AGREED)
    await run.send_finalized(expect_error=True)
    await run.verify_consumer_state(NS.AGREED)
    run.finish()
