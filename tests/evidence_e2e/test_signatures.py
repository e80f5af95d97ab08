"""Proof of intent between real nodes: peers that do not sign still interoperate (recorded as unsigned) unless
signatures are required; a bad signature is refused always; the running node finds a row changed behind it."""

from __future__ import annotations

from pathlib import Path

import pytest
from evidence_e2e.kit import drop_triggers, open_store
from nodekit import Management, make_participant, running_node, write_config

from connector.evidence import intent


def _configs(authority, tmp_path: Path, provider_evidence: str, consumer_evidence: str):
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    pcfg = write_config(provider, tmp_path, extra=f"\n[evidence]\n{provider_evidence}\n")
    ccfg = write_config(consumer, tmp_path, extra=f"\n[evidence]\n{consumer_evidence}\n")
    return provider, consumer, pcfg, ccfg


async def _negotiate(provider, consumer) -> dict:
    pm, cm = Management(provider), Management(consumer)
    offer = await pm.offer("weather")
    return await cm.negotiate(provider, offer, "weather")


async def _signatures(who, agreement: str) -> dict:
    held = await Management(who).call("GET", f"/v1/evidence/agreements/{agreement}/signatures", None, 200)
    return {role: s["status"] for role, s in held["signatures"].items()}


async def test_a_provider_that_does_not_sign_still_concludes_and_is_recorded_unsigned(authority, tmp_path):
    provider, consumer, pcfg, ccfg = _configs(authority, tmp_path, "enabled = false", "")
    async with running_node(pcfg), running_node(ccfg):
        neg = await _negotiate(provider, consumer)
        assert neg["state"] == "FINALIZED", neg
        assert await _signatures(consumer, neg["agreementId"]) == {"provider": "unsigned"}
        history = await Management(consumer).call("GET", f"/v1/negotiations/{neg['id']}", None, 200)
        received = [h for h in history["history"] if h["cause"] == "received ContractAgreementMessage"]
        assert received[0]["detail"]["providerSignature"] == "unsigned"


async def test_a_consumer_that_requires_signatures_refuses_an_unsigned_agreement(authority, tmp_path):
    provider, consumer, pcfg, ccfg = _configs(authority, tmp_path, "enabled = false", "require_signatures = true")
    async with running_node(pcfg), running_node(ccfg):
        neg = await _negotiate(provider, consumer)
        assert neg["state"] == "TERMINATED" and "did not sign" in neg["reason"], neg


async def test_a_provider_that_requires_signatures_refuses_a_consumer_that_does_not_countersign(authority, tmp_path):
    provider, consumer, pcfg, ccfg = _configs(authority, tmp_path, "require_signatures = true", "enabled = false")
    async with running_node(pcfg), running_node(ccfg):
        neg = await _negotiate(provider, consumer)
        assert neg["state"] == "TERMINATED", neg
        provider_side = await Management(provider).call("GET", "/v1/negotiations?role=provider", None, 200)
        assert provider_side["items"][0]["state"] == "TERMINATED"
        assert "did not sign" in (provider_side["items"][0]["reason"] or "")


async def test_a_bad_provider_signature_is_refused_even_when_signatures_are_optional(authority, tmp_path, monkeypatch):
    provider, consumer, pcfg, ccfg = _configs(authority, tmp_path, "", "")
    async with running_node(pcfg) as pnode, running_node(ccfg):
        honest = pnode.evidence.signer.sign_agreement

        def tampered(db, neg, agreement, body):
            signed = honest(db, neg, agreement, body)
            jws = signed[intent.AGREEMENT_SIGNATURE]
            signed[intent.AGREEMENT_SIGNATURE] = jws[:-6] + ("AAAAAA" if not jws.endswith("AAAAAA") else "BBBBBB")
            return signed

        monkeypatch.setattr(pnode.evidence.signer, "sign_agreement", tampered)
        neg = await _negotiate(provider, consumer)
        assert neg["state"] == "TERMINATED" and "not acceptable" in neg["reason"], neg
        held = await Management(consumer).call("GET", f"/v1/evidence/agreements/{neg['agreementId']}/signatures")
        assert held["signatures"]["provider"]["status"] == "invalid"
        assert held["signatures"]["provider"]["code"] == "agreement.signature"


async def test_the_running_node_finds_a_row_changed_behind_its_back(authority, tmp_path):
    provider, consumer, pcfg, ccfg = _configs(authority, tmp_path, "", "")
    async with running_node(pcfg), running_node(ccfg) as cnode:
        neg = await _negotiate(provider, consumer)
        assert neg["state"] == "FINALIZED"
        cm = Management(consumer)
        assert (await cm.call("POST", "/v1/evidence/check", {}, 200))["ok"] is True
        conn = open_store(cnode.config.store_path)
        drop_triggers(conn)
        conn.execute("UPDATE evidence_records SET at = '2001-01-01T00:00:00.000000Z' WHERE seq = 2")
        conn.close()
        found = await cm.call("POST", "/v1/evidence/check", {}, 200)
        assert found["ok"] is False
        assert found["firstBreak"]["code"] == "chain.altered" and found["firstBreak"]["details"]["seq"] == 2


@pytest.mark.parametrize("setting", ["checkpoint_interval = 0", 'tsa_url = "ftp://x"', "unknown = 1"])
def test_bad_evidence_settings_are_refused_naming_the_key(authority, tmp_path, setting):
    from connector.config import load_config
    from connector.errors import ConfigError

    _, _, pcfg, _ = _configs(authority, tmp_path, setting, "")
    with pytest.raises(ConfigError) as raised:
        load_config(pcfg, environ={})
    assert (raised.value.where or "").startswith("evidence.")
