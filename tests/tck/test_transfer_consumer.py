"""TP_C:01-01 ... TP_C:03-06: transfer process with the node as consumer (TCK.md section 4, "TP_C").

Every scenario starts with the TCK calling the node's transfer webhook; the node then sends its
TransferRequestMessage to the fake TCK. The TCK's start messages carry a pull address at http://example.com,
which the node cannot reach and must not let change the DSP state. TP_C:02-04 is @Disabled in the official TCK
and has no test here. TP_C:01-05 uses ATPC0104, the (mistaken) value of the TCK's sample configuration, so it
also checks that a second transfer under the same agreement works.
"""

from __future__ import annotations

import pytest
from tck import tck_messages as msg
from tck.pipeline import Harness, TransferWithConsumer
from tck.tck_machines import TransferState as TS

from connector.dsp.vocabulary import TransferMessage as TM

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def requested(harness: Harness, agreement_id: str) -> TransferWithConsumer:
    run = TransferWithConsumer(harness, agreement_id)
    await run.initiate()
    return run


async def started(harness: Harness, agreement_id: str) -> TransferWithConsumer:
    """Head of the 01 and 03 scenarios: request, TCK start, GET-C(STARTED)."""
    run = await requested(harness, agreement_id)
    await run.send_start(msg.pull_data_address())
    await run.wait_for_state(None, TS.STARTED)
    await run.verify_consumer_state(TS.STARTED)
    return run


async def test_TP_C_01_01_start_then_provider_terminates(harness: Harness) -> None:
    run = await started(harness, "ATPC0101")
    await run.send_termination()
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_consumer_state(TS.TERMINATED)
    run.finish()


async def test_TP_C_01_02_start_then_provider_completes(harness: Harness) -> None:
    run = await started(harness, "ATPC0102")
    await run.send_completion()
    await run.wait_for_state(None, TS.COMPLETED)
    await run.verify_consumer_state(TS.COMPLETED)
    run.finish()


async def test_TP_C_01_03_start_provider_suspends_then_terminates(harness: Harness) -> None:
    run = await started(harness, "ATPC0103")
    await run.send_suspension()
    await run.wait_for_state(None, TS.SUSPENDED)
    await run.verify_consumer_state(TS.SUSPENDED)
    await run.send_termination()
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_consumer_state(TS.TERMINATED)
    run.finish()


async def test_TP_C_01_04_start_suspend_restart_then_provider_completes(harness: Harness) -> None:
    run = await started(harness, "ATPC0104")
    await run.send_suspension()
    await run.wait_for_state(None, TS.SUSPENDED)
    await run.verify_consumer_state(TS.SUSPENDED)
    await run.send_start(msg.pull_data_address())
    await run.wait_for_state(None, TS.STARTED)
    await run.verify_consumer_state(TS.STARTED)
    await run.send_completion()
    await run.wait_for_state(None, TS.COMPLETED)
    await run.verify_consumer_state(TS.COMPLETED)
    run.finish()


async def test_TP_C_01_05_provider_terminates_requested(harness: Harness) -> None:
    run = await requested(harness, "ATPC0104")
    await run.send_termination()
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_consumer_state(TS.TERMINATED)
    run.finish()


async def test_TP_C_02_01_start_then_consumer_terminates(harness: Harness) -> None:
    run = await requested(harness, "ATPC0201")
    termination = run.expect(TM.TERMINATION)
    await run.send_start(msg.pull_data_address())
    await run.wait_for_state(termination, TS.TERMINATED)
    await run.verify_consumer_state(TS.TERMINATED)
    run.finish()


async def test_TP_C_02_02_start_then_consumer_completes(harness: Harness) -> None:
    run = await requested(harness, "ATPC0202")
    completion = run.expect(TM.COMPLETION)
    await run.send_start(msg.pull_data_address())
    await run.wait_for_state(completion, TS.COMPLETED)
    await run.verify_consumer_state(TS.COMPLETED)
    run.finish()


async def test_TP_C_02_03_start_consumer_suspends_then_terminates(harness: Harness) -> None:
    run = await requested(harness, "ATPC0203")
    suspension = run.expect(TM.SUSPENSION)
    await run.send_start(msg.pull_data_address())
    await run.wait_for_state(suspension, TS.SUSPENDED)
    termination = run.expect(TM.TERMINATION)
    await run.wait_for_state(termination, TS.TERMINATED)
    await run.verify_consumer_state(TS.TERMINATED)
    run.finish()


async def test_TP_C_02_05_consumer_terminates_after_request(harness: Harness) -> None:
    run = await requested(harness, "ATPC0205")
    termination = run.expect(TM.TERMINATION)  # the TCK registers this handler only after the request
    await run.wait_for_state(termination, TS.TERMINATED)
    await run.verify_consumer_state(TS.TERMINATED)
    run.finish()


async def test_TP_C_03_01_completion_while_requested_is_refused(harness: Harness) -> None:
    run = await requested(harness, "ATPC0301")
    await run.verify_consumer_state(TS.REQUESTED)
    await run.send_completion(expect_error=True)
    await run.wait_for_state(None, TS.REQUESTED)
    await run.verify_consumer_state(TS.REQUESTED)
    run.finish()


async def test_TP_C_03_02_suspension_while_requested_is_refused(harness: Harness) -> None:
    run = await requested(harness, "ATPC0302")
    await run.verify_consumer_state(TS.REQUESTED)
    await run.send_suspension(expect_error=True)
    await run.wait_for_state(None, TS.REQUESTED)
    await run.verify_consumer_state(TS.REQUESTED)
    run.finish()


async def test_TP_C_03_03_completion_while_suspended_is_refused(harness: Harness) -> None:
    run = await requested(harness, "ATPC0303")
    await run.verify_consumer_state(TS.REQUESTED)
    await run.send_start(msg.pull_data_address())
    await run.wait_for_state(None, TS.STARTED)
    await run.verify_consumer_state(TS.STARTED)
    await run.send_suspension()
    await run.wait_for_state(None, TS.SUSPENDED)
    await run.verify_consumer_state(TS.SUSPENDED)
    await run.send_completion(expect_error=True)
    await run.wait_for_state(None, TS.SUSPENDED)
    await run.verify_consumer_state(TS.SUSPENDED)
    run.finish()


async def terminated_by_provider(harness: Harness, agreement_id: str) -> TransferWithConsumer:
    run = await requested(harness, agreement_id)
    await run.verify_consumer_state(TS.REQUESTED)
    await run.send_start(msg.pull_data_address())
    await run.wait_for_state(None, TS.STARTED)
    await run.verify_consumer_state(TS.STARTED)
    await run.send_termination()
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_consumer_state(TS.TERMINATED)
    return run


async def test_TP_C_03_04_start_after_termination_is_refused(harness: Harness) -> None:
    run = await terminated_by_provider(harness, "ATPC0304")
    await run.send_start(expect_error=True)
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_consumer_state(TS.TERMINATED)
    run.finish()


async def test_TP_C_03_05_suspension_after_termination_is_refused(harness: Harness) -> None:
    run = await terminated_by_provider(harness, "ATPC0305")
    await run.send_suspension(expect_error=True)
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_consumer_state(TS.TERMINATED)
    run.finish()


async def test_TP_C_03_06_completion_after_termination_is_refused(harness: Harness) -> None:
    run = await terminated_by_provider(harness, "ATPC0306")
    await run.send_completion(expect_error=True)
    await run.wait_for_state(None, TS.TERMINATED)
    await run.verify_consumer_state(TS.TERMINATED)
    run.finish()
