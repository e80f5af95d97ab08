"""Issue 4's attack list, each against a real node over mutual TLS.

The victim recognises one federation. Mallory is a member of it with a real node (for attacks that go through
her credential service) and a raw mutual-TLS client with her certificate (for hand-made tokens). Each attack is
refused as DSP prescribes (404 on a process route, 401 on the catalogue, each with the protocol's error body
carrying the reason code), the victim records the exact check that
failed, and no process is left behind in a non-terminal state on either side.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from nodekit import Management, Participant, free_port, running_node, wait_for
from trust_e2e.kit import (
    Federation,
    NodeSpec,
    RawPeer,
    Signer,
    credentialed,
    dcp_config,
    edge,
    last_record_id,
    make_federation,
    negotiate_offer,
    open_processes,
    refusals,
    utcnow,
)

from connector import jws, keys
from connector.canonical import b64url, b64url_decode, canonical_bytes
from connector.pki.authority import Authority
from connector.pki.credentials import issue_participant_credential
from connector.pki.trust_list import issue_trust_list
from connector.records.trust import OwnCredential
from connector.trust.compact import sign_jwt
from connector.trust.credentials import read_credential_unverified
from connector.trust.trust_list import TRUST_LIST_TYP, build_trust_list, trusted_issuer

pytestmark = pytest.mark.asyncio(loop_scope="module")

FEDERATION = "Alpha Data Space"


@dataclass
class Arena:
    root: Path
    fed: Federation
    rogue: Authority  # an authority no trust list names
    victim: Participant
    mallory: Participant
    bystander: Participant  # a member without a node (her key signs tokens Mallory should not be able to use)
    vnode: Any
    mnode: Any
    vm: Management
    mm: Management
    victim_list: Path  # the victim's own copy of the federation's trust list
    genuine: list[OwnCredential] = field(default_factory=list)

    @property
    def raw(self) -> RawPeer:
        return RawPeer(self.mallory)

    @property
    def signer(self) -> Signer:
        return Signer.of(self.mallory)

    def genuine_authorization(self) -> str:
        return f"Bearer {self.signer.id_token(self.victim.participant_id)}"

    def present(self, *tokens: str) -> None:
        """From now on Mallory's credential service presents these credentials."""
        now = utcnow().isoformat()
        edge(self.mnode).holder.credentials = [
            OwnCredential(e.id, e.types, e.issuer, None, "", t, "test", now)
            for t, e in ((t, read_credential_unverified(t)) for t in tokens)
        ]
        edge(self.mnode).holder._access.clear()  # its access tokens grant what it holds, as after a reload
        edge(self.vnode).forget_caches()

    async def refused_token(self, authorization: str, code: str) -> dict[str, Any]:
        """A hand-made request of Mallory's: 401 on the catalogue and 404 on a negotiation, each with the protocol's
        error body naming the failed check; the exact check recorded."""
        since = await last_record_id(self.vm)
        status, catalog = await self.raw.catalogue(self.victim, authorization)
        assert status == 401 and catalog["@type"] == "CatalogError" and catalog["code"] == code, catalog
        assert "dataset" not in catalog
        status, body = await self.raw.request_contract(self.victim, authorization)
        assert status == 404 and body["@type"] == "ContractNegotiationError" and body["code"] == code, body
        records = await refusals(self.vm, since)
        assert [r["code"] for r in records] == [code, code], records
        assert {r["peer"] for r in records} == {self.mallory.participant_id}
        assert await open_processes(self.vm) == []
        return records[0]

    async def refused_negotiation(self, code: str) -> dict[str, Any]:
        """Mallory's node asks for a contract: her negotiation ends TERMINATED, the victim records `code`."""
        since = await last_record_id(self.vm)
        neg = await negotiate_offer(self.mm, self.victim, "weather-offer", "weather")
        assert neg["state"] == "TERMINATED", neg
        records = await refusals(self.vm, since)
        assert records and {r["code"] for r in records} == {code}, records
        assert {r["peer"] for r in records} == {self.mallory.participant_id}
        assert await open_processes(self.vm) == [] and await open_processes(self.mm) == []
        return records[0]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def arena(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    fed = await make_federation(root, FEDERATION).start()
    rogue = Authority.init(root / "rogue", "Rogue Authority", public_url=f"https://localhost:{free_port()}")
    victim = credentialed(fed, root, "victim")
    mallory = credentialed(fed, root, "mallory")
    bystander = credentialed(fed, root, "bystander")
    victim_list = root / "victim-trust-list.jws"
    shutil.copy(fed.trust_list, victim_list)
    vspec = NodeSpec(victim, [fed], trust={"status_max_age": 1.0}, trust_list_files={FEDERATION: victim_list})
    async with contextlib.AsyncExitStack() as stack:
        vnode = await stack.enter_async_context(running_node(dcp_config(vspec, root)))
        mnode = await stack.enter_async_context(running_node(dcp_config(NodeSpec(mallory, [fed]), root)))
        vm, mm = Management(victim), Management(mallory)
        await vm.offer("weather")
        arena = Arena(root, fed, rogue, victim, mallory, bystander, vnode, mnode, vm, mm, victim_list)
        arena.genuine = list(edge(mnode).holder.credentials)
        yield arena
    await fed.stop()


@pytest.fixture(autouse=True)
def genuine_credentials(arena):
    edge(arena.mnode).holder.credentials = list(arena.genuine)
    edge(arena.mnode).holder._access.clear()
    edge(arena.vnode).forget_caches()
    yield


def _token_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), s


def _compact(header: dict[str, Any], payload: dict[str, Any], signature: str) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(canonical_bytes(payload))}.{signature}"


# --- a well-formed request passes: the harness itself is sound -------------------------------------------------


async def test_a_genuine_request_from_the_same_client_is_accepted(arena):
    status, catalog = await arena.raw.catalogue(arena.victim, arena.genuine_authorization())
    assert status == 200 and [d["@id"] for d in catalog["dataset"]] == ["weather"]


# --- tokens -------------------------------------------------------------------------------------------------------


async def test_an_unsigned_token_is_refused(arena):
    h, p, _ = arena.signer.id_token(arena.victim.participant_id).split(".")
    await arena.refused_token(f"Bearer {h}.{p}.", "token.unsigned")


async def test_a_token_signed_with_another_key_is_refused(arena):
    token = arena.signer.id_token(arena.victim.participant_id, key=keys.generate_key())
    await arena.refused_token(f"Bearer {token}", "token.signature")


async def test_a_token_with_alg_none_is_refused(arena):
    header, payload, _ = _token_parts(arena.signer.id_token(arena.victim.participant_id))
    await arena.refused_token(f"Bearer {_compact({**header, 'alg': 'none'}, payload, '')}", "token.algorithm")


async def test_a_token_mac_ed_with_the_public_key_as_hmac_secret_is_refused(arena):
    header, payload, _ = _token_parts(arena.signer.id_token(arena.victim.participant_id))
    public_pem = keys.cert_pem(keys.load_certificate(arena.mallory.dir / "signing.cert.pem"))
    unsigned = _compact({**header, "alg": "HS256"}, payload, "")[:-1]
    mac = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    await arena.refused_token(f"Bearer {unsigned}.{b64url(mac)}", "token.algorithm")


async def test_a_token_for_another_audience_is_refused(arena):
    token = arena.signer.id_token(arena.bystander.participant_id)
    await arena.refused_token(f"Bearer {token}", "token.audience")


async def test_an_expired_token_is_refused(arena):
    token = arena.signer.id_token(arena.victim.participant_id, now=utcnow() - timedelta(minutes=10))
    await arena.refused_token(f"Bearer {token}", "token.expired")


async def test_a_replayed_token_is_refused(arena):
    authorization = await arena.mnode.trust.holder.authorization_for(
        arena.victim.participant_id
    )  # what her node really sent
    status, catalog = await arena.raw.catalogue(arena.victim, authorization)
    assert status == 200 and catalog["dataset"]
    since = await last_record_id(arena.vm)
    status, body = await arena.raw.request_contract(arena.victim, authorization)
    assert status == 404
    (record,) = await refusals(arena.vm, since)
    assert record["code"] == "token.replayed" and record["step"] == "did_document"
    assert await open_processes(arena.vm) == []


async def test_a_token_of_another_participant_over_mallorys_connection_is_refused(arena):
    token = Signer.of(arena.bystander).id_token(arena.victim.participant_id)
    record = await arena.refused_token(f"Bearer {token}", "token.channel_binding")
    assert record["detail"]["details"]["issuer"] == arena.bystander.participant_id


async def test_a_request_without_a_token_is_refused(arena):
    await arena.refused_token(None, "token.missing")


async def test_the_access_tokens_kept_for_reuse_are_bounded_however_many_peers_are_asked(arena):
    from connector.trust.edge.holder import ACCESS_KEPT

    holder = edge(arena.mnode).holder

    async def access_token(peer: str) -> str:
        authorization = await holder.authorization_for(peer)
        assert authorization is not None
        return _token_parts(authorization.removeprefix("Bearer "))[1]["token"]

    first = await access_token(arena.victim.participant_id)
    assert await access_token(arena.victim.participant_id) == first  # reused
    for n in range(ACCESS_KEPT + 100):  # every counterparty of a busy node
        await access_token(f"did:web:peer-{n}.example.com")
    assert len(holder._access) <= ACCESS_KEPT
    latest = await access_token(f"did:web:peer-{ACCESS_KEPT + 99}.example.com")
    assert await access_token(f"did:web:peer-{ACCESS_KEPT + 99}.example.com") == latest  # still reused


# --- credentials ----------------------------------------------------------------------------------------------------


async def test_a_credential_from_an_issuer_on_no_trust_list_is_refused(arena):
    rogue = issue_participant_credential(arena.rogue, arena.mallory.participant_id, "membership")
    arena.present(rogue.token)
    record = await arena.refused_negotiation("credential.issuer_untrusted")
    assert record["step"] == "presentation"


async def test_a_credential_of_a_type_its_issuer_may_not_issue_is_refused(arena):
    genuine = issue_participant_credential(arena.fed.authority, arena.mallory.participant_id, "membership")
    _, claims, _ = _token_parts(genuine.token)
    claims["type"] = ["VerifiableCredential", "MembershipCredential", "AuditorCredential"]
    forged = sign_jwt(
        arena.fed.authority.credential_key(), claims, {"typ": "vc+jwt", "kid": arena.fed.authority.credential_kid}
    )
    arena.present(forged)
    await arena.refused_negotiation("credential.type_not_allowed")


async def test_an_expired_credential_is_refused(arena):
    old = issue_participant_credential(
        arena.fed.authority,
        arena.mallory.participant_id,
        "membership",
        now=utcnow() - timedelta(days=40),
        valid_days=30,
    )
    arena.present(old.token)
    await arena.refused_negotiation("credential.expired")


async def test_a_revoked_credential_is_refused(arena):
    fresh = issue_participant_credential(arena.fed.authority, arena.mallory.participant_id, "membership")
    arena.present(fresh.token)
    assert arena.fed.authority.revoke_credential(fresh.id)
    record = await arena.refused_negotiation("credential.revoked")
    assert record["step"] == "status"


async def test_a_tampered_credential_is_refused(arena):
    genuine = next(c.token for c in arena.genuine if "OrganizationCredential" in c.types)
    header, claims, signature = genuine.split(".")
    payload = json.loads(b64url_decode(claims))
    payload["credentialSubject"]["legalName"] = "Mallory Holdings (a bank)"
    arena.present(
        genuine.split(".")[0] + "." + b64url(canonical_bytes(payload)) + "." + signature,
        next(c.token for c in arena.genuine if "MembershipCredential" in c.types),
    )
    await arena.refused_negotiation("credential.signature")


async def test_credentials_whose_status_list_is_unreachable_are_refused_for_now_not_for_good(arena):
    """Fail closed, but as "not now": 503 with Retry-After and the reason; the negotiation a node started
    meanwhile keeps trying and concludes once the status list can be fetched again."""
    since = await last_record_id(arena.vm)
    await arena.fed.stop()
    try:
        status, body = await arena.raw.request_contract(arena.victim, arena.genuine_authorization())
        assert status == 503 and body["@type"] == "ContractNegotiationError", body
        assert body["code"] == "status.unavailable" and arena.fed.authority.public_url in body["reason"][0]
        offer = {"@id": "weather-offer", "target": "weather", "permission": [{"action": "use"}]}
        neg = await arena.mm.call(
            "POST",
            "/v1/negotiations",
            {
                "counterPartyAddress": f"https://localhost:{arena.victim.protocol_port}/dsp/2025-1",
                "counterPartyId": arena.victim.participant_id,
                "offer": offer,
                "datasetId": "weather",
            },
            201,
        )
        await asyncio.sleep(1.0)
        waiting = await arena.mm.call("GET", f"/v1/negotiations/{neg['id']}", None, 200)
        assert waiting["state"] == "REQUESTED", "a verification that could not be completed is no final refusal"
        records = await refusals(arena.vm, since)
        assert records and {r["code"] for r in records} == {"status.unavailable"}, records
        assert await open_processes(arena.vm) == []
    finally:
        await arena.fed.start()
    done = await arena.mm.call("GET", f"/v1/negotiations/{neg['id']}?wait=FINALIZED,TERMINATED&timeout=20", None, 200)
    assert done["state"] == "FINALIZED", done
    status, catalog = await arena.raw.catalogue(arena.victim, arena.genuine_authorization())
    assert status == 200 and catalog["dataset"], "the service is back: the same credentials pass again"


# --- trust lists ----------------------------------------------------------------------------------------------------


def _forged_list(arena: Arena, signer: keys.PrivateKey, x5c_cert: Any) -> str:
    rogue = arena.rogue
    rogue_issuer = trusted_issuer(
        rogue.issuer_id,
        "Rogue",
        {rogue.credential_kid: rogue.credential_key()},
        ["MembershipCredential", "OrganizationCredential"],
        [rogue.status_prefix],
    )
    now = utcnow()
    document = build_trust_list(
        arena.fed.authority.federation_id,
        FEDERATION,
        99,
        now,
        now - timedelta(minutes=5),
        now + timedelta(days=30),
        [arena.rogue.ca_cert()],
        [rogue_issuer],
    )
    header = {"typ": TRUST_LIST_TYP, "x5c": [keys.cert_der_b64(x5c_cert)]}
    return jws.sign_compact(signer, canonical_bytes(document), header)


@pytest.mark.parametrize("forgery, code", [("wrong_key", "trust_list.signature"), ("wrong_root", "trust_list.anchor")])
async def test_a_forged_trust_list_is_refused_and_the_kept_copy_stays_in_force(arena, forgery, code):
    genuine = arena.victim_list.read_text()
    if forgery == "wrong_key":  # claims the pinned root, signed by another key
        forged = _forged_list(arena, keys.generate_key(), arena.fed.authority.ca_cert())
    else:  # honestly signed, by a root the victim never pinned
        forged = _forged_list(arena, arena.rogue.ca_key(), arena.rogue.ca_cert())
    arena.victim_list.write_text(forged)
    try:
        await edge(arena.vnode).refresh()
        (state,) = (await arena.vm.call("GET", "/v1/trust-lists", None, 200))["items"]
        assert state["lastProblem"]["code"] == code and state["sequence"] == 1 and state["state"] == "valid"
        # What the forged list would have allowed is still refused.
        arena.present(issue_participant_credential(arena.rogue, arena.mallory.participant_id, "membership").token)
        await arena.refused_negotiation("credential.issuer_untrusted")
    finally:
        arena.victim_list.write_text(genuine)
        await edge(arena.vnode).refresh()
    (state,) = (await arena.vm.call("GET", "/v1/trust-lists", None, 200))["items"]
    assert state["lastProblem"] is None


async def test_once_its_trust_list_expires_a_node_refuses_that_federations_members(arena):
    short = arena.root / "short-trust-list.jws"
    issue_trust_list(arena.fed.authority, short, valid_days=2.5 / 86400)
    other = credentialed(arena.fed, arena.root, "victim-two")
    spec = NodeSpec(other, [arena.fed], trust_list_files={FEDERATION: short})
    async with running_node(dcp_config(spec, arena.root)) as node:
        m = Management(other)
        ok = f"Bearer {arena.signer.id_token(other.participant_id)}"
        status, _ = await arena.raw.catalogue(other, ok)
        assert status == 200 and not await refusals(m)
        await wait_for(lambda: edge(node).keeper.expired_federations(utcnow()), timeout=5, interval=0.1)
        status, catalog = await arena.raw.catalogue(other, f"Bearer {arena.signer.id_token(other.participant_id)}")
        assert status == 401 and catalog["@type"] == "CatalogError" and "dataset" not in catalog
        (record,) = await refusals(m)
        # No list vouches for the federation's CA any more, so the first check needing it fails.
        assert record["code"] == "token.key_certificate" and record["detail"]["expired_trust_lists"] == [FEDERATION]
        (state,) = (await m.call("GET", "/v1/trust-lists", None, 200))["items"]
        assert state["state"] == "expired"
        assert await open_processes(m) == []


# --- a DID document cannot send the verifier elsewhere (confused deputy) -----------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        "https://localhost:{victim}/dsp/2025-1/catalog/request",  # another node's DSP endpoint (here: the victim's)
        "https://localhost:{mallory}/dcp?x=/../../dsp/2025-1/catalog/request",  # a query
        "http://localhost:{mallory}/dcp",  # not https
    ],
)
async def test_a_credential_service_elsewhere_than_the_peers_host_is_not_asked(arena, where):
    holder = edge(arena.mnode).holder
    genuine = holder.document_json()
    forged = json.loads(json.dumps(genuine))
    endpoint = where.format(victim=arena.victim.protocol_port, mallory=arena.mallory.protocol_port)
    for service in forged["service"]:
        if service["id"].endswith("#credential-service"):
            service["serviceEndpoint"] = endpoint
    holder._document_json, holder._document = forged, None
    try:
        since = await last_record_id(arena.vm)
        status, body = await arena.raw.request_contract(arena.victim, arena.genuine_authorization())
        assert status == 404 and body["code"] == "did.service_invalid", body
        records = await refusals(arena.vm, since)
        assert [r["peer"] for r in records] == [arena.mallory.participant_id], "nothing was sent anywhere else"
    finally:
        holder._document_json, holder._document = genuine, None
