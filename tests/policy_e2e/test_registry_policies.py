"""Policies on registry facts between real nodes: an organisation its authority checked against the corporate
number publication is admitted by a list of legal entities and a country of registration; one without registry
facts is refused with the reason; the check travels into the verification record and the evidence bundle."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from nodekit import Management, acli, running_node
from registry_samples import KAWASAKI, write_nta
from trust_e2e.kit import NodeSpec, credentialed, dcp_config, make_federation

from connector.pki.credentials import RegistryRequest, issue_participant_credential

pytestmark = pytest.mark.asyncio


async def test_a_registry_checked_organisation_is_admitted_by_its_legal_entity_and_another_is_not(tmp_path):
    federation = make_federation(tmp_path, "Registry Federation")
    provider = credentialed(federation, tmp_path, "provider")
    checked = credentialed(federation, tmp_path, "checked", kinds=("membership",))
    issue_participant_credential(
        federation.authority,
        checked.participant_id,
        "organization",
        out=checked.dir,
        registry=RegistryRequest(
            "jp-corporate-number", write_nta(tmp_path / "00_zenkoku_all_20260331.csv"), KAWASAKI.identifier
        ),
    )
    unchecked = credentialed(federation, tmp_path, "unchecked", country="JP")
    configs = {p.name: dcp_config(NodeSpec(p, [federation]), tmp_path) for p in (provider, checked, unchecked)}
    policy = {
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {
                        "leftOperand": "legalEntity",
                        "operator": "isAnyOf",
                        "rightOperand": [f"jp-corporate-number:{KAWASAKI.identifier}", "lei:529900RHEINDATA00060"],
                    },
                    {"leftOperand": "registeredIn", "operator": "eq", "rightOperand": "JP"},
                ],
            }
        ]
    }
    await federation.start()
    try:
        async with (
            running_node(configs["provider"]),
            running_node(configs["checked"]),
            running_node(configs["unchecked"]),
        ):
            pm = Management(provider)
            await pm.offer("ports", policy)
            agreed = await Management(checked).negotiate(provider, "ports-offer", "ports")
            assert agreed["state"] == "FINALIZED", agreed
            refused = await Management(unchecked).negotiate(provider, "ports-offer", "ports")
            assert refused["state"] == "TERMINATED" and "registry" in refused["reason"], refused
            # The provider's trace names the registry, the publication and when the check was made.
            negotiations = await pm.call("GET", "/v1/negotiations?state=FINALIZED", None, 200)
            record = await pm.call("GET", f"/v1/negotiations/{negotiations['items'][0]['id']}", None, 200)
            explanation = next(
                h["detail"]["explanation"] for h in record["history"] if (h.get("detail") or {}).get("explanation")
            )
            assert "00_zenkoku_all_20260331.csv" in explanation and "川崎データ流通株式会社" in explanation
            # The verification record keeps the registry check of the credential the provider verified.
            verified = await pm.call(
                "GET",
                f"/v1/verifications?outcome=verified&peer={quote(checked.participant_id, safe='')}&limit=5",
                None,
                200,
            )
            registrations = [
                c["registration"] for r in verified["items"] for c in r["detail"]["credentials"] if "registration" in c
            ]
            assert registrations, verified
            assert registrations[0]["legalEntity"] == f"jp-corporate-number:{KAWASAKI.identifier}"
            bundle = tmp_path / "bundle.json"
            ran = await acli(
                "evidence", "export", agreed["agreementId"], "--out", str(bundle), "--config", str(configs["checked"])
            )
            assert ran.returncode == 0, ran.stderr
    finally:
        await federation.stop()
    # The auditor sees, among the proven statements, that the provider relied on a registry-checked credential.
    listed = tmp_path / "registry.jws"
    listed.write_text(federation.trust_list.read_text())
    ran = await acli("evidence", "verify", str(bundle), "--trust-list", str(listed), "--accept-partial")
    assert "checked it against a base registry" in ran.stdout, ran.stdout + ran.stderr
