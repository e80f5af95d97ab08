"""Configuration and API do not fight over assets, policies and offers: what the configuration defines belongs to it
(written again at every start), so the API refuses to replace or delete it, saying which file and key define it;
what the API made stays the API's across restarts."""

from __future__ import annotations

from nodekit import Management, make_participant, offered_weather, running_node, write_config

CONFIGURED = offered_weather(policy_id="use", url="http://127.0.0.1:9/weather")


async def test_the_api_refuses_to_change_what_the_configuration_defines_and_says_where(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    config = write_config(p, tmp_path, extra=CONFIGURED)
    m = Management(p)
    async with running_node(config):
        edits = [
            ("PUT", "/v1/assets/weather", {"source": {"type": "http", "url": "http://127.0.0.1:9/other"}}, "assets[0]"),
            ("DELETE", "/v1/assets/weather", None, "assets[0]"),
            ("PUT", "/v1/policies/use", {"policy": {"permission": [{"action": "read"}]}}, "policies[0]"),
            ("DELETE", "/v1/policies/use", None, "policies[0]"),
            ("DELETE", "/v1/offers/weather-offer", None, "offers[0]"),
        ]
        for method, path, body, key in edits:
            problem = await m.call(method, path, body, 409)
            assert problem["status"] == 409 and problem["code"].endswith(".conflict"), problem
            assert str(config) in problem["detail"] and key in problem["detail"], problem
            assert problem["details"] == {"configured": key}, problem
        # Unchanged: the configured items are as the file says.
        asset = await m.call("GET", "/v1/assets/weather", None, 200)
        assert asset["source"]["url"] == "http://127.0.0.1:9/weather"
        await m.call("GET", "/v1/offers/weather-offer", None, 200)

        # Ids the configuration does not name are the API's to change.
        await m.call("POST", "/v1/assets", {"id": "rain", "source": {"type": "http", "url": "http://h:9/r"}}, 201)
        await m.call("PUT", "/v1/assets/rain", {"source": {"type": "http", "url": "http://h:9/rain"}}, 200)
        await m.call("POST", "/v1/assets", {"id": "snow", "source": {"type": "http", "url": "http://h:9/s"}}, 201)
        await m.call("DELETE", "/v1/assets/snow", None, 204)
    async with running_node(config):
        rain = await m.call("GET", "/v1/assets/rain", None, 200)
        assert rain["source"]["url"] == "http://h:9/rain"  # an API edit survives the restart
        assets = await m.call("GET", "/v1/assets", None, 200)
        assert sorted(a["id"] for a in assets["items"]) == ["rain", "weather"]


async def test_an_item_dropped_from_the_configuration_becomes_the_apis(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    m = Management(p)
    async with running_node(write_config(p, tmp_path, extra=CONFIGURED)):
        await m.call("DELETE", "/v1/offers/weather-offer", None, 409)
    async with running_node(write_config(p, tmp_path)):
        await m.call("DELETE", "/v1/offers/weather-offer", None, 204)
