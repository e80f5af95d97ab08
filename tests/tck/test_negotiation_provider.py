"""CN:01-01 ... CN:03-04: contract negotiation with the node as provider (TCK.md section 4, "CN").

Each test follows the TCK's sequence step by step; `expect(...)` is registered where the TCK registers its
handler, which for some scenarios is only after the step that triggers the node's message (as in the TCK).
"""

from __future__ import annotations

import pytest
from tck.pipeline import Harness, NegotiationWithProvider
from tck.tck_machines import NegotiationState as NS

from connector.dsp.vocabulary import NegotiationMessage as NM

pytestmark = pytest.mark.asyncio(loop_scope="module")


def negotiation(harness: Harness, dataset_id: str) -> NegotiationWithProvider:
    return NegotiationWithProvider(harness, dataset_id, f"CD123:{dataset_id}:456")


async def test_CN_01_01_offer_then_consumer_terminates(harness: Harness) -> None:
    run = negotiation(harness, "ACN0101")
    offer = run.expect(NM.OFFER)
    await run.send_request()
    await run.wait_for_state(offer, NS.OFFERED)
    await run.send_termination()
    await run.verify_provider_state(NS.TERMINATED)
    run.finish()


async def test_CN_01_02_offer_counter_offer_provider_terminates(harness: Harness) -> None:
    run = negotiation(harness, "ACN0102")
    offer = run.expect(NM.OFFER)
    await run.send_request()
    await run.wait_for_state(offer, NS.OFFERED)
    termination = run.expect(NM.TERMINATION)
    await run.send_counter_offer("CD123:ACN0102:456", "ACN0102")
    await run.wait_for_state(termination, NS.TERMINATED)
    run.finish()


async def test_CN_01_03_offer_accept_agree_verify_finalize(harness: Harness) -> None:
    run = negotiation(harness, "ACN0103")
    offer = run.expect(NM.OFFER)
    await run.send_request()
    await run.wait_for_state(offer, NS.OFFERED)
    agreement = run.expect(NM.AGREEMENT)
    await run.accept_last_offer()
    await run.wait_for_state(agreement, NS.AGREED)
    finalized = run.expect(NM.FINALIZED)
    await run.send_verification()
    await run.wait_for_state(finalized, NS.FINALIZED)
    run.finish()


async def test_CN_01_04_agree_verify_finalize(harness: Harness) -> None:
    run = negotiation(harness, "ACN0104")
    agreement = run.expect(NM.AGREEMENT)
    await run.send_request()
    await run.wait_for_state(agreement, NS.AGREED)
    finalized = run.expect(NM.FINALIZED)
    await run.send_verification()
    await run.wait_for_state(finalized, NS.FINALIZED)
    run.finish()


async def test_CN_02_01_provider_terminates_after_request(harness: Harness) -> None:
    run = negotiation(harness, "ACN0201")
    await run.send_request()
    termination = run.expect(NM.TERMINATION)  # the TCK registers this handler only after the request
    await run.wait_for_state(termination, NS.TERMINATED)
    run.finish()


async def test_CN_02_02_consumer_terminates_requested(harness: Harness) -> None:
    run = negotiation(harness, "ACN0202")
    await run.send_request()
    await run.send_termination()
    await run.verify_provider_state(NS.TERMINATED)
    run.finish()


async def test_CN_02_03_agreement_then_consumer_terminates(harness: Harness) -> None:
    run = negotiation(harness, "ACN0203")
    agreement = run.expect(NM.AGREEMENT)
    await run.send_request()
    await run.wait_for_state(agreement, NS.AGREED)
    await run.send_termination()
    await run.verify_provider_state(NS.TERMINATED)
    run.finish()


async def test_CN_02_04_offer_then_consumer_terminates(harness: Harness) -> None:
    run = negotiation(harness, "ACN0204")
    offer = run.expect(NM.OFFER)
    await run.send_request()
    await run.wait_for_state(offer, NS.OFFERED)
    await run.send_termination()
    await run.verify_provider_state(NS.TERMINATED)
    run.finish()


async def test_CN_02_05_offer_then_provider_terminates(harness: Harness) -> None:
    run = negotiation(harness, "ACN0205")
    offer = run.expect(NM.OFFER)
    await run.send_request()
    await run.wait_for_state(offer, NS.OFFERED)
    termination = run.expect(NM.TERMINATION)
    await run.wait_for_state(termination, NS.TERMINATED)
    run.finish()


async def test_CN_02_06_accept_then_provider_terminates(harness: Harness) -> None:
    run = negotiation(harness, "ACN0206")
    offer = run.expect(NM.OFFER)
    await run.send_request()
    await run.wait_for_state(offer, NS.OFFERED)
    await run.accept_last_offer()
    termination = run.expect(NM.TERMINATION)
    await run.wait_for_state(termination, NS.TERMINATED)
    run.finish()


async def test_CN_02_07_verify_then_provider_terminates(harness: Harness) -> None:
    run = negotiation(harness, "ACN0207")
    agreement = run.expect(NM.AGREEMENT)
    await run.send_request()
    await run.wait_for_state(agreement, NS.AGREED)
    termination = run.expect(NM.TERMINATION)
    await run.send_verification()
    await run.wait_for_state(termination, NS.TERMINATED)
    run.finish()


async def test_CN_03_01_termination_after_finalized_is_refused(harness: Harness) -> None:
    run = negotiation(harness, "ACN0301")
    agreement = run.expect(NM.AGREEMENT)
    await run.send_request()
    await run.wait_for_state(agreement, NS.AGREED)
    finalized = run.expect(NM.FINALIZED)
    await run.send_verification()
    await run.wait_for_state(finalized, NS.FINALIZED)
    await run.verify_provider_state(NS.FINALIZED)
    await run.send_termination(expect_error=True)
    run.finish()


async def test_CN_03_02_verification_while_offered_is_refused(harness: Harness) -> None:
    run = negotiation(harness, "ACN0302")
    offer = run.expect(NM.OFFER)
    await run.send_request()
    await run.wait_for_state(offer, NS.OFFERED)
    await run.send_verification(expect_error=True)
    run.finish()


async def test_CN_03_03_verification_while_accepted_is_refused(harness: Harness) -> None:
    run = negotiation(harness, "ACN0303")
    offer = run.expect(NM.OFFER)
    await run.send_request()
    await run.wait_for_state(offer, NS.OFFERED)
    await run.accept_last_offer()
    await run.send_verification(expect_error=True)
    run.finish()


async def test_CN_03_04_second_counter_offer_is_refused(harness: Harness) -> None:
    run = negotiation(harness, "ACN0304")
    offer = run.expect(NM.OFFER)
    await run.send_request()
    await run.wait_for_state(offer, NS.OFFERED)
    await run.send_counter_offer("CD123:ACN0304:456", "ACN0304")
    await run.send_counter_offer("CD123:ACN0304:456", "ACN0304", expect_error=True)
    run.finish()
