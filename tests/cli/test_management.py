"""The command line against real nodes over mutual TLS: what a node offers (assets, policies, offers), its
agreements, pages of lists, and the exit statuses of a node or peer that cannot be reached."""

import asyncio
import json
import subprocess
import sys

import pytest
from nodekit import API_KEY, Management, acli, free_port, make_participant, running_node, write_config

PEERS = """
[[peers]]
name = "provider"
address = "https://localhost:{port}/dsp/2025-1"
participant_id = "{pid}"

[[peers]]
name = "nobody"
address = "https://localhost:{closed}/dsp/2025-1"
"""


@pytest.fixture
def configs(authority, tmp_path):
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    pcfg = write_config(provider, tmp_path)
    peers = PEERS.format(port=provider.protocol_port, pid=provider.participant_id, closed=free_port())
    ccfg = write_config(consumer, tmp_path, extra=peers)
    return provider, consumer, pcfg, ccfg


def one_line(result, status: int, kind: str, *fragments: str) -> str:
    assert result.returncode == status, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"connector: {kind}: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


async def test_assets_policies_and_offers_are_listed_added_and_removed(configs, tmp_path):
    provider, consumer, pcfg, ccfg = configs
    cfg = ["--config", str(pcfg)]
    async with running_node(pcfg):
        asset = tmp_path / "asset.json"
        asset.write_text(json.dumps({"id": "rain", "title": "Rain", "source": {"type": "http", "url": "http://x/r"}}))
        added = await acli("assets", "add", str(asset), *cfg)
        assert added.returncode == 0 and added.stdout.strip() == "added asset 'rain'", added
        inline = '{"id": "use", "policy": {"permission": [{"action": "use"}]}}'
        assert (await acli("policies", "add", inline, *cfg)).stdout.strip() == "added policy 'use'"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "connector",
            "offers",
            "add",
            "-",
            *cfg,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(b'{"id": "rain-offer", "assetId": "rain", "contractPolicyId": "use"}')
        assert proc.returncode == 0 and out.decode().strip() == "added offer 'rain-offer'", err

        listing = await acli("assets", "list", *cfg)
        assert listing.returncode == 0
        header, rule, row = listing.stdout.splitlines()
        assert header.split() == ["ID", "TITLE", "MEDIA", "TYPE", "SOURCE", "UPDATED"]
        assert row.split()[:5] == ["rain", "Rain", "application/octet-stream", "http", "http://x/r"]
        policies = await acli("policies", "list", *cfg)
        assert "perm use" in policies.stdout
        offers = json.loads((await acli("offers", "list", "--json", *cfg)).stdout)
        assert [(o["id"], o["assetId"], o["contractPolicyId"]) for o in offers["items"]] == [
            ("rain-offer", "rain", "use")
        ]
        shown = json.loads((await acli("assets", "show", "rain", *cfg)).stdout)
        assert shown["source"] == {"type": "http", "url": "http://x/r"}

        # Mistakes: named by the node (the field) or by the command line (the JSON), exit status 2.
        bad = await acli("policies", "add", '{"id": "p", "policy": {"permission": [{"action": 5}]}}', *cfg)
        one_line(bad, 2, "error", "policy.permission[0].action")
        one_line(await acli("policies", "add", inline, *cfg), 2, "error", "already exists")
        one_line(await acli("assets", "add", "{not json", *cfg), 2, "error", "is not JSON")
        one_line(await acli("assets", "add", str(tmp_path / "none.json"), *cfg), 2, "error", "none.json")
        one_line(await acli("assets", "remove", "rain", *cfg), 2, "error", "still offered")
        as_json = await acli("assets", "remove", "nothing", "--json", *cfg)
        assert as_json.returncode == 2 and as_json.stderr == ""
        assert json.loads(as_json.stdout)["error"] == {
            "code": "asset.not_found",
            "reason": "no asset 'nothing'",
            "where": "id",
        }

        for kind, pid in (("offers", "rain-offer"), ("policies", "use"), ("assets", "rain")):
            removed = await acli(kind, "remove", pid, *cfg)
            assert removed.returncode == 0 and removed.stdout.strip().endswith(f"'{pid}'"), removed
        assert (await Management(provider).call("GET", "/v1/assets"))["total"] == 0


async def test_agreements_negotiations_and_pages(configs):
    provider, consumer, pcfg, ccfg = configs
    cfg = ["--config", str(ccfg)]
    async with running_node(pcfg), running_node(ccfg):
        pm = Management(provider)
        for name in ("a", "b", "c"):
            await pm.offer(name)
        agreed = []
        for name in ("a", "b", "c"):
            neg = await acli("negotiate", "provider", f"{name}-offer", *cfg)
            assert neg.returncode == 0, neg
            agreed.append(neg.stdout.split("agreement ")[1].split(" ")[0])

        listing = await acli("negotiations", *cfg)
        header = listing.stdout.splitlines()[0].split()
        assert header == ["ID", "ROLE", "STATE", "PEER", "DATASET", "AGREEMENT", "REASON"]
        for agreement in agreed:
            assert agreement in listing.stdout  # in full: what `connector transfer` takes

        agreements = await acli("agreements", *cfg)
        assert agreements.stdout.splitlines()[0].split() == ["ID", "ROLE", "PEER", "DATASET", "CONCLUDED", "TERMS"]
        rows = agreements.stdout.splitlines()[2:]
        assert sorted(r.split()[0] for r in rows) == sorted(agreed)
        assert all(r.split()[1:3] == ["consumer", provider.participant_id] for r in rows)
        one = await acli("agreements", agreed[0], *cfg)
        assert one.returncode == 0 and f"providerId      {provider.participant_id}" in one.stdout
        assert "policy          perm use" in one.stdout
        unknown = await acli("agreements", "urn:uuid:none", *cfg)
        one_line(unknown, 2, "error", "no agreement 'urn:uuid:none'")

        first = await acli("agreements", "--limit", "2", *cfg)
        assert len(first.stdout.splitlines()) == 2 + 2 + 1 and "(1-2 of 3; next: --offset 2)" in first.stdout
        rest = await acli("agreements", "--limit", "2", "--offset", "2", *cfg)
        assert rest.stdout.splitlines()[-1] == "(3-3 of 3)"
        seen = [r.split()[0] for r in first.stdout.splitlines()[2:4] + rest.stdout.splitlines()[2:3]]
        assert sorted(seen) == sorted(agreed)
        page = json.loads((await acli("negotiations", "--offset", "1", "--limit", "1", "--json", *cfg)).stdout)
        assert page["offset"] == 1 and page["total"] == 3 and len(page["items"]) == 1

        finalized = await acli("negotiations", "--state", "finalized", "--role", "consumer", *cfg)
        assert len(finalized.stdout.splitlines()) == 2 + 3
        none = await acli("negotiations", "--state", "TERMINATED", *cfg)
        assert len(none.stdout.splitlines()) == 2
        provider_side = await acli("agreements", "--config", str(pcfg))
        assert all(r.split()[1] == "provider" for r in provider_side.stdout.splitlines()[2:])


async def test_a_reader_that_goes_away_ends_a_listing_quietly(configs):
    provider, consumer, pcfg, ccfg = configs
    async with running_node(pcfg), running_node(ccfg):
        await Management(provider).offer("a")
        assert (await acli("negotiate", "provider", "a-offer", "--config", str(ccfg))).returncode == 0
        for argv in (["transfers", "--json"], ["negotiations", "--json"], ["negotiations"]):
            status, err = await asyncio.to_thread(_read_by_nobody, *argv, "--config", str(ccfg))
            assert status == 0 and err == "", err


def _read_by_nobody(*argv: str) -> tuple[int, str]:
    """`connector ... | head -2`, the reader gone before the first write."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    proc.stdout.close()  # type: ignore[union-attr]
    err = proc.stderr.read()  # type: ignore[union-attr]
    return proc.wait(timeout=60), err


async def test_a_node_or_peer_that_cannot_be_reached_is_exit_status_3(configs, tmp_path):
    provider, consumer, pcfg, ccfg = configs
    down = await acli("negotiations", "--config", str(ccfg))
    one_line(down, 3, "unreachable", "no node answers at", "[management.listen]")
    as_json = await acli("agreements", "--json", "--config", str(ccfg))
    assert as_json.returncode == 3 and json.loads(as_json.stdout)["error"]["code"] == "cli.node_down"
    async with running_node(ccfg):
        for argv in (["catalog", "nobody"], ["negotiate", "nobody", "x"], ["negotiate", "provider", "x"]):
            result = await acli(*argv, "--config", str(ccfg))
            one_line(result, 3, "unreachable", "cannot reach https://localhost:")
        fetched = await acli(
            "fetch", "provider", "x", "--out", str(tmp_path / "x.csv"), "--json", "--config", str(ccfg)
        )
        assert fetched.returncode == 3 and fetched.stderr == ""
        assert json.loads(fetched.stdout)["error"]["code"] == "peer.unreachable"
        # A peer name the configuration does not know is a mistake, not a refusal.
        one_line(await acli("catalog", "somebody", "--config", str(ccfg)), 2, "error", "no peer named 'somebody'")


async def test_a_management_port_given_as_a_peer_answers_but_is_no_dsp_endpoint(configs):
    provider, consumer, pcfg, ccfg = configs
    management = f"https://localhost:{provider.management_port}"
    entry = f'\n[[peers]]\nname = "console"\naddress = "{management}/dsp/2025-1"\n'
    ccfg.write_text(ccfg.read_text() + entry)
    async with running_node(pcfg), running_node(ccfg):
        for argv in (["catalog", management], ["catalog", "console"], ["negotiate", "console", "x"]):
            result = await acli(*argv, "--config", str(ccfg))
            one_line(result, 1, "refused", f"{management} answered, but not over TLS", "not a DSP endpoint")
        as_json = await acli("catalog", "console", "--json", "--config", str(ccfg))
        assert as_json.returncode == 1 and json.loads(as_json.stdout)["error"]["code"] == "peer.not_tls", as_json


async def test_a_negotiation_the_provider_refuses_is_exit_status_1_with_its_reason(configs):
    provider, consumer, pcfg, ccfg = configs
    cfg = ["--config", str(ccfg)]
    research_only = {
        "permission": [
            {"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}]}
        ]
    }
    async with running_node(pcfg), running_node(ccfg):
        await Management(provider).offer("study", policy=research_only)
        marketing = ["--purpose", "marketing"]
        line = one_line(await acli("negotiate", "provider", "study-offer", *marketing, *cfg), 1, "refused")
        assert "the negotiation ended TERMINATED: " in line and "purpose" in line
        as_json = await acli("negotiate", "provider", "study-offer", "--purpose", "marketing", "--json", *cfg)
        assert as_json.returncode == 1 and as_json.stderr == ""
        error = json.loads(as_json.stdout)["error"]
        assert error["code"] == "negotiation.terminated" and "purpose" in error["reason"]
        granted = await acli("negotiate", "provider", "study-offer", "--purpose", "research", *cfg)
        assert granted.returncode == 0 and granted.stdout.startswith("FINALIZED: agreement "), granted


async def test_an_api_key_the_node_refuses_names_the_configuration_key(configs, tmp_path):
    provider, consumer, pcfg, ccfg = configs
    wrong = tmp_path / "wrong-key.toml"
    wrong.write_text(ccfg.read_text().replace(API_KEY, "not-the-node-key-0123456789"))
    async with running_node(ccfg):
        for argv in (["negotiations"], ["catalog", "provider"], ["transfer", "x", "--out", str(tmp_path / "o")]):
            line = one_line(await acli(*argv, "--config", str(wrong)), 2, "error", "[management.api_key]")
            assert "X-Api-Key" not in line and "API key" in line, line
        as_json = await acli("agreements", "--json", "--config", str(wrong))
        error = json.loads(as_json.stdout)["error"]
        assert as_json.returncode == 2 and error["code"] == "auth.api_key" and error["where"] == "management.api_key"


async def test_a_participant_id_given_with_a_peer_name_is_checked_not_ignored(configs, tmp_path):
    provider, consumer, pcfg, ccfg = configs
    async with running_node(pcfg):
        await Management(provider).offer("a")
        async with running_node(ccfg):
            for argv in (["catalog", "provider"], ["negotiate", "provider", "a-offer"]):
                wrong = await acli(*argv, "--id", "did:web:elsewhere", "--config", str(ccfg))
                line = one_line(wrong, 2, "error", "did:web:elsewhere", "[counterPartyId]")
                assert provider.participant_id in line, line
                same = await acli(*argv, "--id", provider.participant_id, "--config", str(ccfg))
                assert same.returncode == 0, same
            negotiations = await Management(consumer).call("GET", "/v1/negotiations", None, 200)
            assert [n["counterPartyId"] for n in negotiations["items"]] == [provider.participant_id]
        # The same peer configured without its participant id: the id given is the one the peer must prove.
        bare = tmp_path / "bare.toml"
        bare.write_text(ccfg.read_text().replace(f'participant_id = "{provider.participant_id}"\n', "", 1))
        async with running_node(bare):
            for argv in (["catalog", "provider"], ["negotiate", "provider", "a-offer"]):
                wrong = await acli(*argv, "--id", "did:web:elsewhere", "--config", str(bare))
                one_line(wrong, 1, "refused", "did:web:elsewhere")


async def test_an_unknown_dataset_or_offer_names_what_was_wrong(configs):
    provider, consumer, pcfg, ccfg = configs
    cfg = ["--config", str(ccfg)]
    async with running_node(pcfg), running_node(ccfg):
        await Management(provider).offer("a")
        wrong = await acli("negotiate", "provider", "a-offer", "--dataset", "b", *cfg)
        one_line(wrong, 2, "error", "offers no dataset 'b'", "[datasetId]")
        one_line(await acli("negotiate", "provider", "b-offer", *cfg), 2, "error", "no 'b-offer'", "[offerId]")
