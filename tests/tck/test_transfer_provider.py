"""TP:01-01 ... TP:03-06: transfer process with the node as provider (TCK.md section 4, "TP").

TP:02-04 is @Disabled in the official TCK and has no test here.
"""

from __future__ import annotations

import pytest
from tck.pipeline import Harness, TransferWithProvider
from tck.tck_machines import TransferState as TS

from connector.dsp.vocabulary import TransferMessage as TM

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def started_by_node(harness: Harness, agreement_id: str) -> TransferWithProvider:
    """The common head of most scenarios: request, the node starts, GET-P(STARTED)."""
    run = TransferWithProvider(harness, agreement_id)
    start = run.expect(TM.START)
    await run.send_request()
    await run.wait_for_state(start, TS.STARTED)
    await run.verify_provider_state(TS.STARTED)
    return run


async def left_requested(harness: Harness, agreement_id: str) -> TransferWithProvider:
    run = TransferWithProvider(harness, agreement_id)
    await run.send_request()
    await run.wait_for_state(None, TS.REQUESTED)
    await run.verify_provider_state(TS.REQUESTED)
    return run


async def test_TP_01_01_start_then_provider_terminates(harness: Harness) -> None:
    run = TransferWithProvider(harness, "ATP0101")
    start = run.expect(TM.START)
    await run.send_request()
    await run.wait_for_state(start, TS.STARTED)
    termination = run.expect(TM.TERMINATION)
    await run.wait_for_state(termination, TS.TERMINATED)
    await run.verify_provider_state(TS.TERMINATED)
    run.finish()


async def test_TP_01_02_start_then_provider_completes(harness: Harness) -> None:
    run = TransferWithProvider(harness, "ATP0102")
    start = run.expect(TM.START)
    await run.send_request()
    await run.wait_for_state(start, TS.STARTED)
    completion = run.expect(TM.COMPLETION)
    await run.wait_for_state(completion, TS.COMPLETED)
    await run.verify_provider_state(TS.COMPLETED)
    run.finish()


async def test_TP_01_03_start_suspend_then_provider_terminates(harness: Harness) -> None:
    run = TransferWithProvider(harness, "ATP0103")
    start = run.expect(TM.START)
    await run.send_request()
    await run.wait_for_state(start, TS.STARTED)
    suspension = run.expect(TM.SUSPENSION)
    await run.wait_for_state(suspension, TS.SUSPENDED)
    termination = run.expect(TM.TERMINATION)
    await run.wait_for_state(termination, TS.TERMINATED)
    await run.verify_provider_state(TS.TERMINATED)
    run.finish()


async def test_TP_01_04_start_suspend_resume_then_provider_completes(harness: Harness) -> None:
    run = TransferWithProvider(harness, "ATP0104")
    start = run.expect(TM.START)
    await run.send_request()
    await run.wait_for_state(start, TS.STARTED)
    suspension = run.expect(TM.SUSPENSION)
    await run.wait_for_state(suspension, TS.SUSPENDED)
    restart = run.expect(TM.START)
    await run.wait_for_state(restart, TS.STARTED)
    completion = run.expect(TM.COMPLETION)
    await run.wait_for_state(completion, TS.COMPLETED)
    await run.verify_provider_state(TS.COMPLETED)
    run.finish()


async def test_TP_01_05_provider_terminates_requested(harness: Harness) -> None:
    run = TransferWithProvider(harness, "ATP0105")
    termination = run.expect(TM.TERMINATION)
    await run.send_request()
    await run.wait_for_state(termination, TS.TERMINATED)
    await run.verify_provider_state(TS.TERMINATED)
    run.finish()


async def test_TP_02_01_start_then_consumer_terminates(harness: Harness) -> None:
    run = await started_by_node(harness, "ATP0201")
    await run.send_termination()
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_provider_state(TS.TERMINATED)
    run.finish()


async def test_TP_02_02_start_then_consumer_completes(harness: Harness) -> None:
    run = await started_by_node(harness, "ATP0202")
    await run.send_completion()
    await run.wait_for_state(None, TS.COMPLETED)
    await run.verify_provider_state(TS.COMPLETED)
    run.finish()


async def test_TP_02_03_start_consumer_suspends_then_terminates(harness: Harness) -> None:
    run = await started_by_node(harness, "ATP0203")
    await run.send_suspension()
    await run.wait_for_state(None, TS.SUSPENDED)
    await run.verify_provider_state(TS.SUSPENDED)
    await run.send_termination()
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_provider_state(TS.TERMINATED)
    run.finish()


async def test_TP_02_05_consumer_terminates_requested(harness: Harness) -> None:
    run = await left_requested(harness, "ATP0205")
    await run.send_termination()
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_provider_state(TS.TERMINATED)
    run.finish()


async def test_TP_03_01_completion_while_requested_is_refused(harness: Harness) -> None:
    run = await left_requested(harness, "ATP0301")
    await run.send_completion(expect_error=True)
    await run.wait_for_state(None, TS.REQUESTED)
    await run.verify_provider_state(TS.REQUESTED)
    run.finish()


async def test_TP_03_02_suspension_while_requested_is_refused(harness: Harness) -> None:
    run = await left_requested(harness, "ATP0302")
    await run.send_suspension(expect_error=True)
    await run.wait_for_state(None, TS.REQUESTED)
    await run.verify_provider_state(TS.REQUESTED)
    run.finish()


async def test_TP_03_03_completion_while_suspended_is_refused(harness: Harness) -> None:
    run = await started_by_node(harness, "ATP0303")
    await run.send_suspension()
    await run.wait_for_state(None, TS.SUSPENDED)
    await run.verify_provider_state(TS.SUSPENDED)
    await run.send_completion(expect_error=True)
    await run.wait_for_state(None, TS.SUSPENDED)
    await run.verify_provider_state(TS.SUSPENDED)
    run.finish()


async def terminated_by_consumer(harness: Harness, agreement_id: str) -> TransferWithProvider:
    run = await started_by_node(harness, agreement_id)
    await run.send_termination()
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_provider_state(TS.TERMINATED)
    return run


async def test_TP_03_04_start_after_termination_is_refused(harness: Harness) -> None:
    run = await terminated_by_consumer(harness, "ATP0304")
    await run.send_start(expect_error=True)
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_provider_state(TS.TERMINATED)
    run.finish()


async def test_TP_03_05_suspension_after_termination_is_refused(harness: Harness) -> None:
    run = await terminated_by_consumer(harness, "ATP0305")
    await run.send_suspension(expect_error=True)
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_provider_state(TS.TERMINATED)
    run.finish()


async def test_TP_03_06_completion_after_termination_is_refused(harness: Harness) -> None:
    run = await terminated_by_consumer(harness, "ATP0306")
    await run.send_completion(expect_error=True)
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_provider_state(TS.TERMINATED)
    run.finish()
