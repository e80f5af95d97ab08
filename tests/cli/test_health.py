"""`connector health` (what the container image's HEALTHCHECK runs): 0 healthy, 1 degraded, 3 not answering."""

from __future__ import annotations

import json

from aiohttp import web
from nodekit import acli, make_participant, running_node, write_config

from connector.cli.health import _check_words


async def _health(config, *extra: str) -> tuple[int, str, str]:
    ran = await acli("health", "--config", str(config), *extra, timeout=60)
    return ran.returncode, ran.stdout, ran.stderr


async def test_health_of_a_running_node_then_of_none(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    config = write_config(p, tmp_path)
    async with running_node(config):
        status, out, _ = await _health(config)
        assert status == 0 and out.startswith(f"ok: {p.participant_id} (store ok, "), out
        assert "listeners data management protocol" in out and "trustMaterial ok" in out, out
        status, out, _ = await _health(config, "--json")
        assert status == 0 and json.loads(out)["status"] == "ok"
        status, out, _ = await _health(config, "--quiet")
        assert status == 0 and out == ""
    status, out, err = await _health(config)
    assert status == 3 and out == "" and "no node answers" in err, (status, out, err)


async def test_a_degraded_answer_is_exit_status_1(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    config = write_config(p, tmp_path)

    async def degraded(request: web.Request) -> web.Response:
        body = {"status": "degraded", "participantId": p.participant_id, "checks": {"store": "failing"}}
        return web.json_response(body, status=503)

    app = web.Application()
    app.router.add_get("/check/health", degraded)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", p.management_port).start()
    try:
        status, out, _ = await _health(config)
    finally:
        await runner.cleanup()
    assert status == 1 and out.startswith("degraded:") and "store failing" in out, out


async def test_the_command_line_reaches_a_node_whose_management_listener_serves_https(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    config = write_config(p, tmp_path)
    tls = f'[management]\ntls_cert = "{p.tls_cert}"\ntls_key = "{p.tls_key}"\n'
    config.write_text(config.read_text().replace("[management]\n", tls, 1))
    async with running_node(config):
        status, out, err = await _health(config)
        assert status == 0 and out.startswith(f"ok: {p.participant_id} "), (status, out, err)
        listed = await acli("assets", "list", "--json", "--config", str(config), timeout=60)
        assert listed.returncode == 0 and json.loads(listed.stdout)["total"] == 0, listed
    status, out, err = await _health(config)
    assert status == 3 and f"no node answers at https://127.0.0.1:{p.management_port}" in err, err


def test_the_trust_material_needing_attention_is_counted_by_its_state():
    stale = {"kind": "crl", "name": "CN=Root", "state": "stale"}
    assert _check_words({"ok": True, "attention": [stale]}) == "ok (1 stale)"
    expiring = {"kind": "certificate", "name": "tls", "state": "expiring"}
    expired = {"kind": "credential", "name": "m", "state": "expired"}
    assert _check_words({"ok": False, "attention": [expiring, expired, expired]}) == "failing (1 expiring, 2 expired)"
    assert _check_words({"ok": True, "attention": []}) == "ok"
