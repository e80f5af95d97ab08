"""The filters of the negotiation and transfer lists: a value the node does not know is a 400 naming the
parameter and the values it takes, not an empty list that looks like "nothing there"."""

from __future__ import annotations

import pytest
from nodekit import API_KEY, get, make_participant, running_node, write_config

pytestmark = pytest.mark.e2e


async def test_an_unknown_state_or_role_is_a_problem_naming_the_parameter(authority, tmp_path):
    participant = make_participant(authority, tmp_path, "org")
    base = f"http://127.0.0.1:{participant.management_port}/v1/"
    async with running_node(write_config(participant, tmp_path)):
        for query, where, named in (
            ("negotiations?state=FINISHED", "state", "FINALIZED"),
            ("negotiations?state=finalized", "state", "FINALIZED"),
            ("negotiations?role=buyer", "role", "consumer"),
            ("transfers?state=DONE", "state", "COMPLETED"),
            ("transfers?role=Provider", "role", "provider"),
        ):
            status, body = await get(base + query, headers={"X-Api-Key": API_KEY})
            assert status == 400, (query, body)
            assert body["code"] == "request.invalid" and body["where"] == where and named in body["detail"], body
        for query in (
            "negotiations?state=FINALIZED&role=consumer",
            "transfers?state=COMPLETED&role=provider",
            "negotiations?state=&role=",
        ):
            status, page = await get(base + query, headers={"X-Api-Key": API_KEY})
            assert status == 200 and page["total"] == 0, (query, page)


async def test_waiting_for_a_state_there_is_not_or_for_no_time_at_all_is_a_problem(authority, tmp_path):
    from nodekit import Management, offered_weather, peer_entry

    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    async with (
        running_node(write_config(provider, tmp_path, extra=offered_weather())),
        running_node(write_config(consumer, tmp_path, extra=peer_entry(provider))),
    ):
        neg = await Management(consumer).negotiate(provider, "weather-offer", "weather")
        base = f"http://127.0.0.1:{consumer.management_port}/v1/negotiations/{neg['id']}"
        for query, where, named in (
            ("wait=FINALISED", "wait", "FINALIZED"),
            ("wait=FINALIZED,COMPLETED", "wait", "TERMINATED"),
            ("wait=FINALIZED&timeout=nan", "timeout", "seconds"),
        ):
            status, body = await get(f"{base}?{query}", headers={"X-Api-Key": API_KEY})
            assert status == 400, (query, body)
            assert body["code"] == "request.invalid" and body["where"] == where and named in body["detail"], body
        status, body = await get(f"{base}?wait=finalized,TERMINATED&timeout=1", headers={"X-Api-Key": API_KEY})
        assert status == 200 and body["state"] == "FINALIZED", body
