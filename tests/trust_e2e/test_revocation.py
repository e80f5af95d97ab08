"""Revoking a participant stops its next negotiation and its next transfer, within the status list age bound."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from nodekit import Management, running_node
from trust_e2e.kit import (
    NodeSpec,
    credentialed,
    dcp_config,
    last_record_id,
    make_federation,
    negotiate_offer,
    open_processes,
    refusals,
)

from connector import keys

STATUS_MAX_AGE = 0.5


@pytest.mark.parametrize("how", ["participant", "credentials_only"])
async def test_revoking_a_participant_stops_its_next_transfer_and_its_next_negotiation(tmp_path, how):
    fed = await make_federation(tmp_path, "Alpha Data Space").start()
    try:
        provider = credentialed(fed, tmp_path, "provider")
        consumer = credentialed(fed, tmp_path, "consumer")
        # The provider's copy of the CRL lags behind (as a distributed CRL does): only the status list can tell.
        stale_crl = tmp_path / "provider-crl.pem"
        shutil.copy(fed.authority.crl_path, stale_crl)
        pspec = NodeSpec(provider, [fed], trust={"status_max_age": STATUS_MAX_AGE}, crl_override=stale_crl)
        async with (
            running_node(dcp_config(pspec, tmp_path)),
            running_node(dcp_config(NodeSpec(consumer, [fed]), tmp_path)),
        ):
            pm, cm = Management(provider), Management(consumer)
            await pm.offer("weather")
            neg = await negotiate_offer(cm, provider, "weather-offer", "weather")
            assert neg["state"] == "FINALIZED", neg
            tp = await cm.call("POST", "/v1/transfers", {"agreementId": neg["agreementId"]}, 201)
            tp = await cm.call("GET", f"/v1/transfers/{tp['id']}?wait=STARTED,TERMINATED&timeout=20", None, 200)
            assert tp["state"] == "STARTED", tp
            await cm.call("POST", f"/v1/transfers/{tp['id']}/terminate", {"reason": "done"}, 200)

            if how == "participant":
                fed.authority.revoke(consumer.participant_id)
            else:
                fed.authority.revoke_participant(consumer.participant_id, credentials_only=True)
            await asyncio.sleep(STATUS_MAX_AGE + 0.2)  # the provider's copy of the status list is now too old
            since = await last_record_id(pm)

            tp = await cm.call("POST", "/v1/transfers", {"agreementId": neg["agreementId"]}, 201)
            tp = await cm.call("GET", f"/v1/transfers/{tp['id']}?wait=TERMINATED&timeout=20", None, 200)
            assert tp["state"] == "TERMINATED", tp
            neg = await negotiate_offer(cm, provider, "weather-offer", "weather")
            assert neg["state"] == "TERMINATED", neg
            records = await refusals(pm, since)
            assert len(records) >= 2 and {r["code"] for r in records} == {"credential.revoked"}
            assert {r["path"].split("/")[3] for r in records} == {"transfers", "negotiations"}
            await _settled(pm, cm)
    finally:
        await fed.stop()


async def _settled(*managements: Management) -> None:
    for m in managements:
        assert await open_processes(m) == []


async def test_a_revoked_certificate_is_refused_with_its_reason_and_listed_among_the_verifications(tmp_path):
    fed = await make_federation(tmp_path, "Alpha Data Space").start()
    try:
        provider = credentialed(fed, tmp_path, "provider")
        consumer = credentialed(fed, tmp_path, "consumer")
        async with (
            running_node(dcp_config(NodeSpec(provider, [fed]), tmp_path)) as pnode,
            running_node(dcp_config(NodeSpec(consumer, [fed]), tmp_path)),
        ):
            pm, cm = Management(provider), Management(consumer)
            await pm.offer("weather")
            since = await last_record_id(pm)
            fed.authority.revoke(consumer.participant_id)
            for _ in range(50):  # the provider reloads its CRL file within its reload interval
                if pnode.tls.is_revoked(keys.load_certificate(consumer.tls_cert)):
                    break
                await asyncio.sleep(0.1)
            neg = await negotiate_offer(cm, provider, "weather-offer", "weather")
            assert neg["state"] == "TERMINATED" and "certificate.revoked" in neg["reason"], neg
            records = await refusals(pm, since)
            assert records and {r["code"] for r in records} == {"certificate.revoked"}, records
            assert {r["peer"] for r in records} == {consumer.participant_id}
            assert {r["step"] for r in records} == {"certificate"}
            await _settled(pm, cm)
    finally:
        await fed.stop()
