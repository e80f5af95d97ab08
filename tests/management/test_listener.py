import pytest
from nodekit import API_KEY, get, make_participant, running_node, write_config


@pytest.fixture
def org_a(authority, tmp_path):
    return make_participant(authority, tmp_path, "org-a")


async def test_management_requires_the_api_key(org_a, tmp_path):
    async with running_node(write_config(org_a, tmp_path)):
        base = f"http://127.0.0.1:{org_a.management_port}"
        status, body = await get(base + "/anything")
        assert status == 401 and body["code"] == "auth.api_key" and body["status"] == 401
        status, _ = await get(base + "/anything", headers={"X-Api-Key": API_KEY + "x"})
        assert status == 401
        status, body = await get(base + "/anything", headers={"X-Api-Key": API_KEY})
        assert status == 404 and body["type"].endswith("http.404")


async def test_health_readiness_and_liveness_answer_without_a_key(org_a, tmp_path):
    async with running_node(write_config(org_a, tmp_path)):
        base = f"http://127.0.0.1:{org_a.management_port}"
        status, body = await get(base + "/check/health")
        assert status == 200 and body["status"] == "ok" and body["checks"]["store"] == "ok"
        assert body["participantId"] == org_a.participant_id
        status, body = await get(base + "/check/readiness")
        assert status == 200 and body["ready"] is True
        status, body = await get(base + "/check/liveness")
        assert status == 200 and body["alive"] is True


async def test_every_response_carries_a_request_id_and_echoes_a_sane_one(org_a, tmp_path):
    import aiohttp

    async with running_node(write_config(org_a, tmp_path)):
        async with aiohttp.ClientSession() as s:
            async with s.get(
                f"http://127.0.0.1:{org_a.management_port}/check/health", headers={"X-Request-Id": "abc-123"}
            ) as resp:
                assert resp.headers["X-Request-Id"] == "abc-123"
            async with s.get(
                f"http://127.0.0.1:{org_a.management_port}/check/health", headers={"X-Request-Id": "bad id\u00e9" * 20}
            ) as resp:
                assert resp.headers["X-Request-Id"] != "bad id"
