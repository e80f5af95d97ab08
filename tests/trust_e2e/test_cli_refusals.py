"""A peer's refusal for trust reasons, as the command line tells it: the peer's reason and code, exit status 1;
a verification the peer cannot complete now, exit status 3; and the README's revocation step, by hand."""

import asyncio
import json

from nodekit import Management, acli, make_participant, offered_weather, peer_entry, running_node, write_config
from trust_e2e.kit import NodeSpec, credentialed, dcp_config, make_federation

STATUS_MAX_AGE = 0.3


def refused(result, *fragments: str) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("connector: refused: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


async def test_a_consumer_whose_credentials_are_revoked_is_told_why_with_exit_status_1(tmp_path):
    fed = await make_federation(tmp_path, "Alpha Data Space").start()
    try:
        provider = credentialed(fed, tmp_path, "provider")
        consumer = credentialed(fed, tmp_path, "consumer")
        pcfg = dcp_config(NodeSpec(provider, [fed], trust={"status_max_age": STATUS_MAX_AGE}), tmp_path)
        ccfg = dcp_config(NodeSpec(consumer, [fed]), tmp_path)
        ccfg.write_text(ccfg.read_text() + peer_entry(provider))
        cfg = ["--config", str(ccfg)]
        async with running_node(pcfg), running_node(ccfg):
            await Management(provider).offer("weather")
            assert (await acli("catalog", "provider", *cfg)).returncode == 0

            fed.authority.revoke_participant(consumer.participant_id, credentials_only=True)
            await asyncio.sleep(STATUS_MAX_AGE + 0.3)  # the provider's copy of the status list is now too old

            catalog = await acli("catalog", "provider", *cfg)
            refused(catalog, "refused the catalogue request (401)", "revoked", "(credential.revoked)")
            assert catalog.stdout == ""  # not "0 dataset(s)"
            negotiate = await acli("negotiate", "provider", "weather-offer", "--dataset", "weather", *cfg)
            refused(negotiate, "refused the dataset request (401)", "(credential.revoked)")
            refused(await acli("negotiate", "provider", "weather-offer", *cfg), "(credential.revoked)")
            fetched = await acli("fetch", "provider", "weather", "--out", str(tmp_path / "w.csv"), *cfg)
            refused(fetched, "(credential.revoked)")
            assert not (tmp_path / "w.csv").exists()

            as_json = await acli("catalog", "provider", "--json", *cfg)
            assert as_json.returncode == 1 and as_json.stderr == ""
            error = json.loads(as_json.stdout)["error"]
            assert error["code"] == "catalog.peer_error" and "(credential.revoked)" in error["reason"]
    finally:
        await fed.stop()


async def test_a_verification_the_peer_cannot_complete_now_is_exit_status_3(tmp_path):
    fed = await make_federation(tmp_path, "Alpha Data Space").start()
    provider = credentialed(fed, tmp_path, "provider")
    consumer = credentialed(fed, tmp_path, "consumer")
    pcfg = dcp_config(NodeSpec(provider, [fed], trust={"status_max_age": STATUS_MAX_AGE}), tmp_path)
    ccfg = dcp_config(NodeSpec(consumer, [fed]), tmp_path)
    ccfg.write_text(ccfg.read_text() + peer_entry(provider))
    async with running_node(pcfg), running_node(ccfg):
        await Management(provider).offer("weather")
        assert (await acli("catalog", "provider", "--config", str(ccfg))).returncode == 0
        await fed.stop()  # the status lists cannot be fetched any more: nobody can tell whether it is revoked
        await asyncio.sleep(STATUS_MAX_AGE + 0.3)
        result = await acli("catalog", "provider", "--config", str(ccfg))
        assert result.returncode == 3, result
        line = result.stderr.strip()
        assert line.startswith("connector: unreachable: ") and "503" in line and len(line.splitlines()) == 1


SEEDS = offered_weather(policy_id="use", url="http://127.0.0.1:9/weather")


async def test_the_readme_revocation_step_refuses_the_next_request_after_the_stated_wait(authority, tmp_path):
    provider = make_participant(authority, tmp_path, "org-a")
    consumer = make_participant(authority, tmp_path, "org-b")
    pcfg = write_config(provider, tmp_path, extra=SEEDS)
    ccfg = write_config(consumer, tmp_path, extra=peer_entry(provider, name="org-a"))
    cfg = ["--config", str(ccfg)]
    async with running_node(pcfg) as node, running_node(ccfg):
        assert (await acli("negotiate", "org-a", "weather-offer", *cfg)).returncode == 0
        revoked = await acli(
            "pki", "revoke", "--authority", str(authority.dir), "--participant-id", consumer.participant_id
        )
        assert revoked.returncode == 0, revoked.stderr
        assert "the certificates within trust.reload_interval (default 5 s) where nodes read" in revoked.stdout
        # A provider that reads the CRL from a file: wait its reload interval, then try again.
        await asyncio.sleep(node.config.trust.reload_interval + 0.5)
        refused(await acli("negotiate", "org-a", "weather-offer", *cfg), "revoked")
