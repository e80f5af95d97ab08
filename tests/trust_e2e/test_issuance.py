"""Onboarding without shared secrets, over the network: a participant makes its own keys, enrols its signing
requests with its authority's service, starts its node, and asks the issuer service for credentials (DCP
credential issuance); the issuer checks that the node controls its DID and delivers to its credential service.
Every DCP issuance message either side receives is checked against the official schemas."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from dcp_oracle import schema_problems
from nodekit import Management, Participant, free_port, running_node, wait_for
from trust_e2e.kit import NodeSpec, RawPeer, Signer, credentialed, dcp_config, make_federation, utcnow

from connector.pki import onboarding
from connector.pki.enrolment import enrol
from connector.pki.requests import make_requests
from connector.trust import issuance
from connector.trust.tokens import issue_id_token

SEEN: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def issuance_oracle(monkeypatch):
    """Every issuance message parsed by the issuer service or the node, validated against its schema."""
    SEEN.clear()
    problems: list[str] = []
    for name, kind in (
        ("parse_issuer_metadata", "IssuerMetadata"),
        ("parse_credential_request", "CredentialRequestMessage"),
        ("parse_credential_status", "CredentialStatus"),
        ("parse_credential_message", "CredentialMessage"),
    ):
        original = getattr(issuance, name)

        def checked(data, _original=original, _kind=kind):
            document = json.loads(data) if isinstance(data, (bytes, str)) else data
            SEEN.append((_kind, document.get("status", "") if isinstance(document, dict) else ""))
            problems.extend(f"{_kind}: {p}" for p in schema_problems(_kind, document))
            return _original(data)

        monkeypatch.setattr(issuance, name, checked)
    yield
    assert not problems, problems


def self_made(fed, root: Path, name: str) -> Participant:
    """A participant whose keys never left its folder: requests made there, nothing enrolled yet."""
    port = free_port()
    pid = f"did:web:localhost%3A{port}:{name}"
    folder = root / name
    make_requests(folder, pid, ["localhost", "127.0.0.1"], "DE", f"{name.title()} GmbH")
    return Participant(name, pid, folder, fed.authority, port, free_port())


def public_url(fed) -> str:
    return fed.authority.public_url


async def test_a_participant_enrols_its_own_keys_and_gets_its_credentials_delivered(tmp_path):
    fed = await make_federation(tmp_path, "Alpha Data Space").start()
    try:
        p = self_made(fed, tmp_path, "berlin")
        anchor = fed.authority.ca_cert_path
        # Not onboarded: the enrolment waits for the operator.
        pending = await enrol(public_url(fed), anchor, p.dir)
        assert pending.status == "RECEIVED" and not (p.dir / "tls.cert.pem").exists()
        listed = onboarding.requests(fed.authority, onboarding.RECEIVED)
        assert [r["id"] for r in listed] == [pending.request_id]
        assert "PRIVATE KEY" not in (fed.authority.dir / onboarding.ONBOARDING_FILE).read_text()
        onboarding.approve(fed.authority, pending.request_id)
        done = await enrol(public_url(fed), anchor, p.dir, request_id=pending.request_id)
        assert done.status == "ISSUED" and (p.dir / "tls.cert.pem").exists()

        async with running_node(dcp_config(NodeSpec(p, [fed], credentials=[]), tmp_path)):
            m = Management(p)
            assert (await m.call("GET", "/v1/credentials", None, 200))["items"] == []
            record = await m.call(
                "POST",
                "/v1/credentials/requests",
                {"issuer": public_url(fed), "types": ["MembershipCredential", "OrganizationCredential"]},
                201,
            )
            assert record["issuer"] == fed.authority.issuer_id and record["issuerPid"]

            async def issued() -> bool:
                found = await m.call("GET", f"/v1/credentials/requests/{record['id']}", None, 200)
                return found["state"] == "ISSUED"

            await wait_for(issued, timeout=15)
            held = (await m.call("GET", "/v1/credentials", None, 200))["items"]
            assert sorted(t for c in held for t in c["types"] if t != "VerifiableCredential") == [
                "MembershipCredential",
                "OrganizationCredential",
            ]
            assert {c["source"] for c in held} == {f"issued:{fed.authority.issuer_id}"}
        # The authority's folder never held a key of the participant.
        for path in fed.authority.dir.rglob("*"):
            if path.is_file():
                text = path.read_text(errors="replace")
                for key_file in ("tls.key.pem", "signing.key.pem"):
                    assert (p.dir / key_file).read_text() not in text
        kinds = {k for k, _ in SEEN}
        assert kinds >= {"IssuerMetadata", "CredentialRequestMessage", "CredentialMessage"}, SEEN
    finally:
        await fed.stop()


async def test_issued_credentials_are_kept_across_a_restart_and_verified_by_a_peer(tmp_path):
    fed = await make_federation(tmp_path, "Alpha Data Space").start()
    try:
        p = self_made(fed, tmp_path, "lyon")
        onboarding.onboard(fed.authority, p.participant_id, "Lyon SAS", "FR")
        first = await enrol(public_url(fed), fed.authority.ca_cert_path, p.dir)
        assert first.status == "ISSUED"  # onboarded: granted at once
        peer = credentialed(fed, tmp_path, "provider", country="JP")
        config = dcp_config(NodeSpec(p, [fed], credentials=[]), tmp_path)
        async with running_node(config):
            m = Management(p)
            record = await m.call(
                "POST", "/v1/credentials/requests", {"issuer": public_url(fed), "types": ["MembershipCredential"]}, 201
            )

            async def issued() -> bool:
                return (await m.call("GET", f"/v1/credentials/requests/{record['id']}"))["state"] == "ISSUED"

            await wait_for(issued, timeout=15)
        async with running_node(config), running_node(dcp_config(NodeSpec(peer, [fed]), tmp_path)):
            m = Management(p)
            assert len((await m.call("GET", "/v1/credentials", None, 200))["items"]) == 1
            await Management(peer).offer("weather")
            catalog = await m.call(
                "POST",
                "/v1/catalog/request",
                {
                    "counterPartyAddress": f"https://localhost:{peer.protocol_port}/dsp/2025-1",
                    "counterPartyId": peer.participant_id,
                },
                200,
            )
            assert [d["id"] for d in catalog["datasets"]] == ["weather"]
    finally:
        await fed.stop()


async def test_a_rejected_request_reaches_the_node_with_its_reason(tmp_path):
    fed = await make_federation(tmp_path, "Alpha Data Space").start()
    try:
        p = self_made(fed, tmp_path, "tokyo")
        onboarding.onboard(fed.authority, p.participant_id)
        assert (await enrol(public_url(fed), fed.authority.ca_cert_path, p.dir)).status == "ISSUED"
        # Onboarded without a legal name: the organisation credential cannot be issued.
        async with running_node(dcp_config(NodeSpec(p, [fed], credentials=[]), tmp_path)):
            m = Management(p)
            record = await m.call(
                "POST",
                "/v1/credentials/requests",
                {"issuer": public_url(fed), "types": ["OrganizationCredential"]},
                201,
            )

            async def settled() -> bool:
                found = await m.call("GET", f"/v1/credentials/requests/{record['id']}")
                return found["state"] == "REJECTED" and "legal name" in (found["reason"] or "")

            await wait_for(settled, timeout=15)
            assert (await m.call("GET", "/v1/credentials"))["items"] == []
        assert ("CredentialMessage", "REJECTED") in SEEN
    finally:
        await fed.stop()


async def test_the_issuer_refuses_a_token_of_a_key_it_did_not_certify_and_unknown_credentials(tmp_path):
    fed = await make_federation(tmp_path, "Alpha Data Space").start()
    other = await make_federation(tmp_path, "Other Data Space").start()
    try:
        stranger = credentialed(other, tmp_path, "stranger")  # certified by another authority
        async with running_node(dcp_config(NodeSpec(stranger, [other, fed]), tmp_path)):
            base = public_url(fed)
            message = issuance.CredentialRequestMessage(
                "urn:uuid:1", (f"{fed.authority.issuer_id}#MembershipCredential",)
            )
            token = Signer.of(stranger).id_token(fed.authority.issuer_id)
            ssl_ctx = stranger.client_ssl([fed.authority.ca_cert_path])
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    base + "/credentials",
                    json=message.to_json(),
                    headers={"Authorization": f"Bearer {token}"},
                    ssl=ssl_ctx,
                ) as resp:
                    body = await resp.json()
                    assert resp.status == 401 and body["code"] == "issuance.not_enrolled", body
                async with session.post(base + "/credentials", json=message.to_json(), ssl=ssl_ctx) as resp:
                    assert resp.status == 401 and (await resp.json())["code"] == "token.missing"
                async with session.get(base + "/metadata", ssl=ssl_ctx) as resp:
                    metadata = await resp.json()
                    assert not schema_problems("IssuerMetadata", metadata)
    finally:
        await fed.stop()
        await other.stop()


async def test_the_storage_api_refuses_deliveries_that_no_request_of_the_node_asked_for(tmp_path):
    fed = await make_federation(tmp_path, "Alpha Data Space").start()
    try:
        holder = credentialed(fed, tmp_path, "holder")
        async with running_node(dcp_config(NodeSpec(holder, [fed]), tmp_path)) as node:
            url = f"https://localhost:{holder.protocol_port}/dcp/credentials"
            message = issuance.CredentialMessage("x", "urn:uuid:nobody", issuance.REJECTED, rejection_reason="no")
            raw = RawPeer(holder)
            # No token; a token without a storage grant; a token of the holder itself pretending to deliver.
            status, body = await raw.post(holder, "/dcp/credentials", message.to_json(), None)
            assert status == 401 and body["code"] == "token.missing"
            authority = fed.authority
            now = utcnow()
            bare = issue_id_token(
                authority.credential_key(),
                authority.credential_kid,
                authority.issuer_id,
                holder.participant_id,
                None,
                now,
            )
            status, body = await raw.post(holder, "/dcp/credentials", message.to_json(), f"Bearer {bare}")
            assert status == 401 and body["code"] == "access_token.missing"
            identity = node.identity
            grant = issuance.issue_storage_grant(
                identity.signing_key, identity.signing_kid, holder.participant_id, authority.issuer_id, ["X"], now
            )
            forged = Signer.of(holder).id_token(holder.participant_id, access_token=grant)
            status, body = await raw.post(holder, "/dcp/credentials", message.to_json(), f"Bearer {forged}")
            assert status == 401, body
            good = issue_id_token(
                authority.credential_key(),
                authority.credential_kid,
                authority.issuer_id,
                holder.participant_id,
                grant,
                now,
            )
            status, body = await raw.post(holder, "/dcp/credentials", message.to_json(), f"Bearer {good}")
            assert status == 404 and body["code"] == "issuance.unknown_request", body
            assert url
    finally:
        await fed.stop()


async def test_an_enrolment_no_participant_could_have_sent_is_a_400(tmp_path):
    """Anyone may send signing requests: a body nested past reading, or a request for a key of no known algorithm,
    is refused with its reason, not answered with a server error."""
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    fed = await make_federation(tmp_path, "Alpha Data Space").start()
    try:
        p = self_made(fed, tmp_path, "berlin")
        csrs = [(p.dir / name).read_bytes() for name in ("tls.csr.pem", "signing.csr.pem")]
        der = x509.load_pem_x509_csr(csrs[0]).public_bytes(serialization.Encoding.DER)
        ec_public_key = bytes.fromhex("06072a8648ce3d0201")  # the OID id-ecPublicKey, as DER
        unknown = der.replace(ec_public_key, ec_public_key[:-1] + b"\x09", 1)  # 1.2.840.10045.2.9: no algorithm
        unknown_pem = x509.load_der_x509_csr(unknown).public_bytes(serialization.Encoding.PEM)
        bodies = {
            "request.invalid": b"[" * 100_000,
            "pki.bad_request": json.dumps({"csrs": [unknown_pem.decode(), csrs[1].decode()]}).encode(),
        }
        tls = ssl.create_default_context(cafile=str(fed.authority.ca_cert_path))
        async with aiohttp.ClientSession() as session:
            for code, body in bodies.items():
                url = public_url(fed) + "/enrolment"
                headers = {"Content-Type": "application/json"}
                async with session.post(url, data=body, headers=headers, ssl=tls) as resp:
                    answer = await resp.json(content_type=None)
                    assert (resp.status, answer["code"]) == (400, code), answer
        assert onboarding.requests(fed.authority, onboarding.RECEIVED) == []
    finally:
        await fed.stop()
