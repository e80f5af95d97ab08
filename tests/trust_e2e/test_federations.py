"""Two nodes of different federations exchange data only when each recognises the other's federation."""

from __future__ import annotations

import contextlib

import pytest
import pytest_asyncio
from nodekit import Management, running_node
from trust_e2e.kit import (
    NodeSpec,
    credentialed,
    dcp_config,
    make_federation,
    negotiate_offer,
    open_processes,
    refusals,
)

from connector.store.sql import processes as repo

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALPHA, BETA = "Alpha Data Space", "Beta Data Space"
TLS_FAILURES = {"peer.tls_refused", "peer.unreachable"}  # the handshake fails, whichever side refuses


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def feds(tmp_path_factory):
    root = tmp_path_factory.mktemp("federations")
    alpha = await make_federation(root, ALPHA).start()
    beta = await make_federation(root, BETA).start()
    a = credentialed(alpha, root, "org-a", country="JP")  # a member of Alpha
    b = credentialed(beta, root, "org-b", country="FR")  # a member of Beta
    yield root, alpha, beta, a, b
    await alpha.stop()
    await beta.stop()


def _dsp(p) -> str:
    return f"https://localhost:{p.protocol_port}/dsp/2025-1"


@contextlib.asynccontextmanager
async def _pair(root, a_spec: NodeSpec, b_spec: NodeSpec):
    async with running_node(dcp_config(a_spec, root)) as anode, running_node(dcp_config(b_spec, root)) as bnode:
        am, bm = Management(a_spec.participant), Management(b_spec.participant)
        yield anode, bnode, am, bm


async def test_members_of_two_federations_that_recognise_each_other_exchange_with_verified_claims(feds):
    root, alpha, beta, a, b = feds
    async with _pair(root, NodeSpec(a, [alpha, beta]), NodeSpec(b, [beta, alpha])) as (anode, bnode, am, bm):
        await am.offer("tides")
        catalog = await bm.call(
            "POST", "/v1/catalog/request", {"counterPartyAddress": _dsp(a), "counterPartyId": a.participant_id}, 200
        )
        assert [d["id"] for d in catalog["datasets"]] == ["tides"]
        neg = await bm.negotiate(a, "tides-offer", "tides")
        assert neg["state"] == "FINALIZED", neg
        record = await anode.store.read(repo.get_negotiation, neg["providerPid"])
        assert {c["federation"] for c in record.claims["credentials"]} == {BETA}
        assert {c["issuer"] for c in record.claims["credentials"]} == {beta.authority.issuer_id}
        # The management API shows each side what it verified of the other.
        shown = await am.call("GET", f"/v1/negotiations/{neg['providerPid']}", None, 200)
        assert shown["counterPartyClaims"]["participantId"] == b.participant_id
        assert {c["federation"] for c in shown["counterPartyClaims"]["credentials"]} == {BETA}
        # B verified A's messages (the agreement) against Alpha's list.
        verified = await bm.call("GET", "/v1/verifications?outcome=verified&limit=50", None, 200)
        federations = {c["federation"] for r in verified["items"] for c in r["detail"]["credentials"]}
        assert federations == {ALPHA}
        assert not await refusals(am) and not await refusals(bm)


async def test_without_the_other_federation_on_either_side_the_nodes_cannot_even_connect(feds):
    root, alpha, beta, a, b = feds
    async with _pair(root, NodeSpec(a, [alpha, beta]), NodeSpec(b, [beta])) as (anode, bnode, am, bm):
        a_before = (await am.call("GET", "/v1/verifications", None, 200))["total"]
        b_before = (await bm.call("GET", "/v1/verifications", None, 200))["total"]
        # B does not recognise Alpha: A's certificate is not accepted by B, nor B's view of A's server.
        failed = await bm.call(
            "POST", "/v1/catalog/request", {"counterPartyAddress": _dsp(a), "counterPartyId": a.participant_id}
        )
        assert failed["code"] in TLS_FAILURES and "certificate" in failed["detail"], failed
        failed = await am.call(
            "POST", "/v1/catalog/request", {"counterPartyAddress": _dsp(b), "counterPartyId": b.participant_id}
        )
        assert failed["code"] in TLS_FAILURES, failed
        # Nothing reached the verifiers since the first test: the handshakes failed before any request.
        for m, before in ((am, a_before), (bm, b_before)):
            assert (await m.call("GET", "/v1/verifications", None, 200))["total"] == before


async def test_a_federation_trusted_for_tls_only_is_refused_at_the_credential_check(feds):
    root, alpha, beta, a, b = feds
    # B accepts Alpha's certificates on the wire (CA and CRL configured) but has no Alpha trust list.
    b_tls_only = NodeSpec(b, [beta], extra_cas=[alpha.authority.ca_cert_path], extra_crls=[alpha.authority.crl_path])
    async with _pair(root, NodeSpec(a, [alpha, beta]), b_tls_only) as (anode, bnode, am, bm):
        await bm.offer("wine")
        refused = await am.call(
            "POST", "/v1/catalog/request", {"counterPartyAddress": _dsp(b), "counterPartyId": b.participant_id}, 502
        )
        # An unrecognised caller is refused with the reason, which reaches the consumer's user.
        assert refused["code"] == "catalog.peer_error" and "(401)" in refused["detail"], refused
        neg = await negotiate_offer(am, b, "wine-offer", "wine")
        assert neg["state"] == "TERMINATED"
        codes = {r["code"] for r in await refusals(bm)}
        assert codes == {"token.key_certificate"}  # A's signing key chains to a CA no list of B's vouches for
        assert await open_processes(bm) == [] and await open_processes(am) == []
    # Even where keys are not required to chain to a listed CA, Alpha's credentials are not recognised.
    lenient = NodeSpec(
        b,
        [beta],
        extra_cas=[alpha.authority.ca_cert_path],
        extra_crls=[alpha.authority.crl_path],
        trust={"require_key_certificate": False},
    )
    async with _pair(root, NodeSpec(a, [alpha, beta]), lenient) as (anode, bnode, am, bm):
        refused = await am.call(
            "POST", "/v1/catalog/request", {"counterPartyAddress": _dsp(b), "counterPartyId": b.participant_id}, 502
        )
        assert "credential.issuer_untrusted" in refused["detail"], refused
        assert {r["code"] for r in await refusals(bm)} >= {"credential.issuer_untrusted"}
