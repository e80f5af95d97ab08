"""A node and an EDC connector, each in both roles, with client certificates optional on the node.

The EDC side is `edc_peer.EdcPeer`, written from the DCP 1.0 and DSP 2025-1 specifications and EDC's documented
wire format: it holds only credentials from the federation's authority and a web server certificate (no client
certificate, no certificate naming its DID), authenticates with DCP tokens alone, offers and reads EDC's
HttpData-PULL data address, and names the parties of its policies by data-space identifiers (BPNs), which the
node knows as aliases. The node runs a demo organisation's configuration with
``CONNECTOR__PROTOCOL__CLIENT_CERTIFICATE`` and ``CONNECTOR__DATA__CLIENT_CERTIFICATE`` set to ``optional``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from interop.edc_peer import EDC, VC11, VC20, EdcPeer, Key, Refused, WebPki, vc11_credential, vc20_credential
from nodekit import Management, free_port
from trust_e2e.kit import DSP, NodeSpec, credentialed, dcp_config, make_federation

from connector.config import load_config
from connector.node.wiring import running
from connector.pki.credentials import issue_participant_credential

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.e2e]

OPTIONAL = {
    "CONNECTOR__PROTOCOL__CLIENT_CERTIFICATE": "optional",
    "CONNECTOR__DATA__CLIENT_CERTIFICATE": "optional",
}
NODE_BPN, EDC_BPN = "BPNL00000000DEMO", "BPNL000000000EDC"
DATA = b"station,day,mm\nberlin,2026-03-01,4.2\n" * 50


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("edc")
    fed = await make_federation(root, "Alpha Data Space").start()
    web = WebPki(root / "web")
    demo = credentialed(fed, root, "demo", country="DE")
    edc_port = free_port()
    edc_did = f"did:web:localhost%3A{edc_port}:edc"
    spec = NodeSpec(
        demo,
        [fed],
        extra_cas=[web.ca_cert],  # the authority of EDC's web server certificate
        extra_crls=[web.crl],
        trust={
            "require_key_certificate": False,  # EDC's DID documents carry no x5c
            "credential_types": ["MembershipCredential"],
            "status_max_age": 0.5,
        },
    )
    config_path = dcp_config(spec, root)
    data_root = root / "demo-data"
    data_root.mkdir()
    (data_root / "weather.csv").write_bytes(DATA)
    text = config_path.read_text().replace("[node]\n", f'[node]\naliases = ["{NODE_BPN}"]\n', 1)
    text += f'\n[data]\nroot = "{data_root}"\n'
    text += (
        f'\n[[peers]]\nname = "edc"\naddress = "https://localhost:{edc_port}/api/dsp/2025-1"\n'
        f'participant_id = "{edc_did}"\naliases = ["{EDC_BPN}"]\n'
    )
    config_path.write_text(text)
    config = load_config(config_path, environ=OPTIONAL)
    async with contextlib.AsyncExitStack() as stack:
        node = await stack.enter_async_context(running(config))
        m = Management(demo)
        await m.call(
            "POST",
            "/v1/assets",
            {"id": "weather", "title": "Weather", "source": {"type": "file", "path": "weather.csv"}},
            201,
        )
        member = {"leftOperand": "membership", "operator": "eq", "rightOperand": fed.authority.federation_id}
        policy = {"permission": [{"action": "use", "constraint": [member]}]}
        await m.call("POST", "/v1/policies", {"id": "members", "policy": policy}, 201)
        await m.call(
            "POST", "/v1/offers", {"id": "weather-offer", "assetId": "weather", "contractPolicyId": "members"}, 201
        )
        yield {
            "root": root,
            "fed": fed,
            "web": web,
            "demo": demo,
            "node": node,
            "m": m,
            "config": config_path,
            "edc_port": edc_port,
            "edc_did": edc_did,
            "edc_key": Key.new("p256"),
        }
    await fed.stop()


def _issuer(fed) -> tuple[Any, str, str, str]:
    authority = fed.authority
    key = authority.credential_key()
    return key, "ES256", authority.credential_kid, authority.issuer_id


def membership(fed, holder: str, profile: str, **dates: datetime) -> tuple[str, str]:
    """A MembershipCredential from the federation's authority in `profile`; returns (token, credential id).

    The authority records the credential and its status index; a VC 1.1 twin with the same id, subject and status
    entry is written as EDC IssuerService writes one (the issuer's key is the one on the trust list)."""
    issued = issue_participant_credential(fed.authority, holder, "membership")
    if profile == VC20 and not dates:
        return issued.token, issued.id
    key, alg, kid, issuer = _issuer(fed)
    status = {
        "id": f"{issued.status.list_url}#{issued.status.index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": str(issued.status.index),
        "statusListCredential": issued.status.list_url,
    }
    now = datetime.now(UTC)
    valid_from = dates.get("valid_from", now - timedelta(days=1))
    valid_until = dates.get("valid_until", now + timedelta(days=30))
    write = vc11_credential if profile == VC11 else vc20_credential
    subject = {"memberOf": fed.authority.federation_id, "memberSince": "2026-01-01"}
    token = write(
        key, alg, kid, issuer, holder, ["MembershipCredential"], subject, status, valid_from, valid_until, issued.id
    )
    return token, issued.id


def edc(
    world, name: str = "edc", key_kind: str = "p256", profile: str = VC20, port: int | None = None, **kw
) -> EdcPeer:
    port = port or free_port()
    did = f"did:web:localhost%3A{port}:{name}"
    if "credentials" not in kw:
        kw["credentials"] = [membership(world["fed"], did, profile)[0]]
    return EdcPeer(
        world["root"] / name,
        port,
        world["web"],
        [world["fed"].authority.ca_cert_path],
        key_kind=key_kind,
        profile=profile,
        trusted_issuers={world["fed"].authority.issuer_id},
        name=name,
        **kw,
    )


def node_dsp(world) -> str:
    return f"https://localhost:{world['demo'].protocol_port}{DSP}"


def _no_violations(peer: EdcPeer) -> None:
    assert not peer.violations, "\n".join(peer.violations)
    assert {"PresentationQueryMessage", "PresentationResponseMessage", "IdToken"} <= set(peer.seen_dcp)


# --- the EDC connector as consumer, the node as provider ------------------------------------------------------------


async def test_an_edc_consumer_browses_negotiates_and_pulls_without_a_client_certificate(world):
    node_did = world["demo"].participant_id
    async with edc(world, "edc-consumer") as peer:
        catalog = await peer.catalog(node_did, node_dsp(world))
        (dataset,) = [d for d in catalog["dataset"] if d["@id"] == "weather"]
        (offer,) = dataset["hasPolicy"]
        # The node's offer survives JSON-LD expansion: its own left operand as an absolute IRI.
        constraint = offer["permission"][0]["constraint"][0]
        assert constraint["leftOperand"] == "https://w3id.org/connector/policy/membership"
        neg = await peer.negotiate(node_did, node_dsp(world), offer, "weather")
        assert neg.state == "FINALIZED", neg
        assert neg.agreement["assigner"] == node_did and neg.agreement["assignee"] == peer.did
        tp = await peer.transfer(node_did, node_dsp(world), neg.agreement["@id"])
        assert tp.state == "STARTED" and tp.address is not None
        # EDC reads the data address from its endpoint properties, in its own names.
        names = {p["name"] for p in tp.address["endpointProperties"]}
        assert {EDC + "endpoint", EDC + "authorization", EDC + "authType"} <= names
        status, body = await peer.pull(tp)
        assert status == 200 and body == DATA
        assert await peer.complete(tp) == 200
        _no_violations(peer)
    provider_side = await world["m"].call("GET", f"/v1/negotiations/{neg.provider_pid}", None, 200)
    assert provider_side["state"] == "FINALIZED" and provider_side["counterPartyId"] == peer.did
    transfer = await world["m"].call("GET", f"/v1/transfers/{tp.provider_pid}?wait=COMPLETED&timeout=10", None, 200)
    assert transfer["state"] == "COMPLETED"


async def test_an_edc_consumer_naming_the_parties_by_their_bpns_is_agreed(world):
    node_did = world["demo"].participant_id
    async with edc(world, "edc", port=world["edc_port"], key=world["edc_key"]) as peer:
        catalog = await peer.catalog(node_did, node_dsp(world))
        offer = {**catalog["dataset"][0]["hasPolicy"][0], "assigner": NODE_BPN, "assignee": EDC_BPN}
        neg = await peer.negotiate(node_did, node_dsp(world), offer, "weather")
        assert neg.state == "FINALIZED", neg
        _no_violations(peer)


# --- the node as consumer, the EDC connector as provider ------------------------------------------------------------


async def _cli(world, *args: str, timeout: float = 90) -> Any:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "connector",
        *args,
        "--config",
        str(world["config"]),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **OPTIONAL},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


async def test_the_node_browses_negotiates_and_pulls_from_an_edc_provider_with_edcs_data_address(world):
    m = world["m"]
    async with edc(world, "edc", port=world["edc_port"], key=world["edc_key"], participant_id=EDC_BPN) as peer:
        peer.consumer_names[world["demo"].participant_id] = NODE_BPN  # EDC names its consumer by its BPN
        peer.datasets["edc-parts"] = b"part,count\nbolt,12\n" * 100
        body = {"counterPartyAddress": peer.dsp, "counterPartyId": peer.did}
        catalog = await m.call("POST", "/v1/catalog/request", body, 200)
        (dataset,) = catalog["datasets"]
        offer = dataset["offers"][0]
        assert offer["assigner"] == EDC_BPN
        started = await m.call(
            "POST", "/v1/negotiations", {**body, "offerId": offer["@id"], "datasetId": "edc-parts"}, 201
        )
        neg = await m.call("GET", f"/v1/negotiations/{started['id']}?wait=FINALIZED,TERMINATED&timeout=20", None, 200)
        assert neg["state"] == "FINALIZED", neg
        out = world["root"] / "parts.csv"
        code, stdout, stderr = await _cli(world, "transfer", neg["agreementId"], "--out", str(out), "--quiet", "--json")
        assert code == 0, stderr + stdout
        report = json.loads(stdout)
        assert out.read_bytes() == peer.datasets["edc-parts"]
        assert report["completed"] is True and report["seal"]["sealed"] is False
        # EDC's data plane got the bare token, over a connection without a client certificate.
        assert peer.pulls and peer.pulls[-1]["authorization"].count(".") == 2
        assert not peer.pulls[-1]["authorization"].startswith("Bearer ")
        tp = next(t for t in peer.transfers.values() if t.agreement_id == neg["agreementId"])
        await EdcPeer._until(tp, "COMPLETED")
        _no_violations(peer)


# --- both credential profiles, every key type ---------------------------------------------------------------------


@pytest.mark.parametrize("profile", [VC20, VC11])
@pytest.mark.parametrize("key_kind", ["p256", "p384", "ed25519", "rsa"])
async def test_every_key_type_and_credential_profile_authenticates(world, key_kind, profile):
    async with edc(world, f"edc-{key_kind}-{profile[:4]}", key_kind=key_kind, profile=profile) as peer:
        catalog = await peer.catalog(world["demo"].participant_id, node_dsp(world))
        assert catalog["@type"] == "Catalog"
        assert not peer.violations, "\n".join(peer.violations)
    verifications = await world["m"].call("GET", f"/v1/verifications?peer={quote(peer.did)}&limit=5", None, 200)
    (record,) = [r for r in verifications["items"] if r["outcome"] == "verified"][:1]
    (credential,) = record["detail"]["credentials"]
    assert credential["types"] == ["MembershipCredential"]


# --- refusals -----------------------------------------------------------------------------------------------------


async def _refused(world, peer: EdcPeer) -> str:
    with pytest.raises(Refused) as caught:
        await peer.catalog(world["demo"].participant_id, node_dsp(world))
    return caught.value.code


@pytest.mark.parametrize("profile", [VC20, VC11])
async def test_a_revoked_credential_is_refused(world, profile):
    port = free_port()
    name = f"edc-revoked-{profile[:4]}"
    token, credential_id = membership(world["fed"], f"did:web:localhost%3A{port}:{name}", profile)
    assert world["fed"].authority.revoke_credential(credential_id)
    await asyncio.sleep(1.0)  # past the node's status_max_age: the list it holds is not fresh any more
    async with edc(world, name, port=port, profile=profile, credentials=[token]) as peer:
        assert await _refused(world, peer) == "credential.revoked"


@pytest.mark.parametrize("profile", [VC20, VC11])
@pytest.mark.parametrize(("days", "code"), [((-30, -1), "credential.expired"), ((1, 30), "credential.not_yet_valid")])
async def test_an_expired_or_not_yet_valid_credential_is_refused(world, profile, days, code):
    now = datetime.now(UTC)
    dates = {"valid_from": now + timedelta(days=days[0]), "valid_until": now + timedelta(days=days[1])}
    port = free_port()
    name = f"edc-{code.split('.')[1]}-{profile[:4]}"
    token, _ = membership(world["fed"], f"did:web:localhost%3A{port}:{name}", profile, **dates)
    async with edc(world, name, port=port, profile=profile, credentials=[token]) as peer:
        assert await _refused(world, peer) == code


async def test_an_access_token_for_another_scope_gets_nothing_and_is_refused(world):
    async with edc(world, "edc-scope") as peer:
        with pytest.raises(Refused) as caught:
            await _catalogue_with_scopes(world, peer, ["org.eclipse.edc.vc.type:SomeOtherCredential:read"])
        assert caught.value.code == "credential.required_missing"


async def _catalogue_with_scopes(world, peer: EdcPeer, scopes: list[str]) -> None:
    node_did = world["demo"].participant_id
    original = peer.authorization
    peer.authorization = lambda audience, _=None: original(audience, scopes)  # type: ignore[method-assign]
    try:
        await peer.catalog(node_did, node_dsp(world))
    finally:
        peer.authorization = original  # type: ignore[method-assign]


async def test_a_credential_that_was_not_asked_for_is_refused(world):
    port = free_port()
    name = "edc-unasked"
    holder = f"did:web:localhost%3A{port}:{name}"
    organization = issue_participant_credential(
        world["fed"].authority, holder, "organization", country="FR", name="Edc SA"
    )
    async with edc(world, name, port=port) as peer:
        member = peer.credentials[0]
        peer.answer_with = lambda verifier, chosen: [peer.presentation(verifier, [member, organization.token])]
        assert await _refused(world, peer) == "presentation.scope"


async def test_the_nodes_credential_service_gives_nothing_beyond_the_scope_it_granted(world):
    """The EDC side as verifier: it asks the node's credential service for a type the node's access token does not
    grant; the answer holds no credential (DCP: fewer entries, not an error), and the caller is refused."""
    node_did = world["demo"].participant_id
    async with edc(world, "edc-verifier") as peer:
        catalog = await peer.catalog(node_did, node_dsp(world))  # the two know each other
        assert catalog["@type"] == "Catalog"
        authorization = await world["node"].trust.holder.authorization_for(peer.did)

        class Request:
            headers = {"Authorization": authorization}

        with pytest.raises(Refused) as caught:
            await peer.authenticate(Request(), scope_types=("SomeOtherCredential",))  # type: ignore[arg-type]
        assert caught.value.code == "credential.missing"
        _no_violations(peer)
