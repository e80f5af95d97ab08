"""Mutual recognition between real nodes: a federation signs that it accepts another's membership for research; a
node of that federation then admits a member of the other under a policy written in its own terms, says so in
its trace (`connector explain`), applies only what its own federation signed, and stops when the statement is
revoked on the federation's status list."""

from __future__ import annotations

import asyncio
import json

import pytest
import pytest_asyncio
from nodekit import Management, acli, running_node
from trust_e2e.kit import NodeSpec, dcp_config, two_federations

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALPHA, BETA = "Alpha Recognised", "Beta Recognising"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("recognition")
    async with two_federations(root, (ALPHA, BETA)) as (alpha, beta, a, b):
        statement = root / "beta-recognises-alpha.jwt"
        ran = await acli(
            "pki",
            "recognise",
            "--authority",
            str(beta.authority.dir),
            "--trust-list",
            str(alpha.trust_list),
            "--accept",
            "MembershipCredential",
            "--purpose",
            "research",
            "--out",
            str(statement),
        )
        assert ran.returncode == 0 and "recognises 'Alpha Recognised'" in ran.stdout, ran.stderr
        statement_id = ran.stdout.split("statement ", 1)[1].split(",", 1)[0]
        quick = {"status_max_age": 1.0, "presentation_reuse": 0.0, "recognitions": [str(statement)]}
        b_config = dcp_config(NodeSpec(b, [beta, alpha], trust=quick), root)
        a_config = dcp_config(NodeSpec(a, [alpha, beta], trust={"recognitions": [str(statement)]}), root)
        yield root, alpha, beta, a, b, a_config, b_config, statement_id


BETA_MEMBERS_ONLY = {
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "membership", "operator": "eq", "rightOperand": "urn:dataspace:beta-recognising"}
            ],
        }
    ]
}


async def test_a_recognised_membership_satisfies_a_policy_in_the_other_federations_terms(world):
    root, alpha, beta, a, b, a_config, b_config, statement_id = world
    async with running_node(b_config), running_node(a_config):
        bm, am = Management(b), Management(a)
        await bm.offer("reefs", BETA_MEMBERS_ONLY)
        agreed = await am.negotiate(b, "reefs-offer", "reefs", purpose="research")
        assert agreed["state"] == "FINALIZED", agreed
        refused = await am.negotiate(b, "reefs-offer", "reefs", purpose="marketing")
        assert refused["state"] == "TERMINATED" and "membership" in refused["reason"], refused
        # The provider's trace shows the path; so does `connector explain` on its side.
        provider_side = await bm.call("GET", "/v1/negotiations?state=FINALIZED", None, 200)
        ran = await acli("explain", provider_side["items"][0]["id"], "--config", str(b_config))
        assert ran.returncode == 0, ran.stderr
        assert "recognised: MembershipCredential" in ran.stdout and statement_id in ran.stdout, ran.stdout
        assert f"{BETA} recognises {ALPHA}" in ran.stdout
        # Recorded with the verification of the peer (and so in the evidence log).
        verified = await bm.call("GET", "/v1/verifications?outcome=verified&limit=50", None, 200)
        paths = [r["detail"]["recognised"] for r in verified["items"] if r["detail"].get("recognised")]
        assert paths and paths[0][0]["path"][0]["statement"] == statement_id
        # Each node applies only what its own federation signed: Alpha's node holds Beta's statement unused.
        shown = await am.call("GET", "/v1/recognitions", None, 200)
        assert shown["own"] == ["urn:dataspace:alpha-recognised"] and not shown["items"][0]["applied"]
        assert (await bm.call("GET", "/v1/recognitions", None, 200))["items"][0]["applied"]


async def test_a_revoked_recognition_stops_counting_like_any_revocation(world):
    root, alpha, beta, a, b, a_config, b_config, statement_id = world
    async with running_node(b_config), running_node(a_config):
        bm, am = Management(b), Management(a)
        await bm.offer("tides", BETA_MEMBERS_ONLY)
        assert (await am.negotiate(b, "tides-offer", "tides", purpose="research"))["state"] == "FINALIZED"
        ran = await acli("pki", "revoke", "--authority", str(beta.authority.dir), "--credential-id", statement_id)
        assert ran.returncode == 0, ran.stderr
        await asyncio.sleep(1.5)  # the provider's trust.status_max_age
        refused = await am.negotiate(b, "tides-offer", "tides", purpose="research")
        assert refused["state"] == "TERMINATED" and "membership" in refused["reason"], refused
        verified = await bm.call("GET", "/v1/verifications?outcome=verified&limit=5", None, 200)
        assert any(statement_id in json.dumps(r["detail"].get("recognitionsRevoked", [])) for r in verified["items"])
