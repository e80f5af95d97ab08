"""Federations publishing their trust lists as ETSI TS 119 612 trusted lists: nodes exchange under them, judge a
credential by its issuer's status when it was issued, and take a member state's list through the EU list of
trusted lists as one more federation."""

from __future__ import annotations

import contextlib
import ssl
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from eu_lists import build_eu_lists
from nodekit import Management, make_participant, running_node
from trust_e2e.kit import NodeSpec, dcp_config, negotiate_offer, refusals, two_federations

from connector import keys
from connector.errors import ConfigError
from connector.pki import certificates
from connector.pki.services import change_status
from connector.pki.trust_list import issue_trust_list
from connector.trust.claims import MEMBERSHIP_CREDENTIAL
from connector.trust.credentials import StatusEntry, issue_credential

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALPHA, BETA = "Alpha Accredited", "Beta Accredited"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def feds(tmp_path_factory):
    root = tmp_path_factory.mktemp("accredited")
    async with two_federations(root, (ALPHA, BETA)) as (alpha, beta, a, b):
        lists = {
            f.name: issue_trust_list(f.authority, root / f"{f.authority.meta['slug']}.xml").paths[-1]
            for f in (alpha, beta)
        }
        yield root, alpha, beta, a, b, lists


@contextlib.asynccontextmanager
async def _node(root, spec: NodeSpec):
    async with running_node(dcp_config(spec, root)) as node:
        yield node, Management(spec.participant)


async def test_nodes_exchange_under_etsi_trusted_lists_and_show_the_accredited_services(feds):
    root, alpha, beta, a, b, lists = feds
    a_spec = NodeSpec(a, [alpha, beta], trust_list_files=lists)
    b_spec = NodeSpec(b, [beta, alpha], trust_list_files=lists)
    async with _node(root, a_spec) as (anode, am), _node(root, b_spec) as (bnode, bm):
        await am.offer("tides")
        neg = await bm.negotiate(a, "tides-offer", "tides")
        assert neg["state"] == "FINALIZED", neg
        shown = await am.call("GET", "/v1/trust-lists", None, 200)
        assert {t["format"] for t in shown["items"]} == {"etsi"}
        beta_list = next(t for t in shown["items"] if t["federationName"] == BETA)
        kinds = {s["kind"]: s for s in beta_list["services"]}
        assert set(kinds) == {"ca", "issuer", "tsa"} and all(s["accredited"] for s in kinds.values())
        assert kinds["issuer"]["type"] == "http://uri.etsi.org/TrstSvc/Svctype/EAA"
        assert kinds["issuer"]["status"].endswith("/Svcstatus/granted") and kinds["issuer"]["issuer"]
        assert not await refusals(am) and not await refusals(bm)


async def test_a_credential_issued_after_its_issuer_was_withdrawn_is_refused_one_issued_before_is_not(feds):
    root, alpha, beta, a, b, lists = feds
    late = make_participant(beta.authority, root, "org-late", "FR")  # certified before, credentialled after
    withdrawn_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    change_status(beta.authority, "issuer", "withdrawn", withdrawn_at)
    fresh = issue_trust_list(beta.authority, root / "beta-withdrawn.xml").paths[-1]
    # A withdrawn issuer whose key still signs: its authority refuses, so the credential is made by hand.
    token = issue_credential(
        beta.authority.credential_key(),
        beta.authority.credential_kid,
        beta.authority.issuer_id,
        MEMBERSHIP_CREDENTIAL,
        {"id": late.participant_id, "memberOf": beta.authority.federation_id, "memberSince": "2026-01-01"},
        withdrawn_at + timedelta(seconds=1),
        withdrawn_at + timedelta(days=30),
        StatusEntry("revocation", 4242, beta.authority.status_list_url("1")),
    )
    (late.dir / "membership.credential.jwt").write_text(token + "\n")
    files = {**lists, BETA: fresh}
    a_spec = NodeSpec(a, [alpha, beta], trust_list_files=files)
    before_spec = NodeSpec(b, [beta, alpha], trust_list_files=files)
    late_spec = NodeSpec(late, [beta, alpha], trust_list_files=files)
    async with _node(root, a_spec) as (anode, am), _node(root, before_spec) as (bnode, bm):
        await am.offer("reefs")
        neg = await bm.negotiate(a, "reefs-offer", "reefs")
        assert neg["state"] == "FINALIZED", neg  # issued while the issuer was accredited: it still counts
        async with _node(root, late_spec) as (lnode, lm):
            neg = await negotiate_offer(lm, a, "reefs-offer", "reefs")
            assert neg["state"] == "TERMINATED", neg
            codes = {r["code"]: r["reason"] for r in await refusals(am)}
            assert "credential.issuer_not_accredited" in codes, codes
            assert "withdrawn" in codes["credential.issuer_not_accredited"]


async def test_a_member_states_list_through_the_lotl_is_one_more_federation(feds, tmp_path):
    root, alpha, beta, a, b, lists = feds
    eu = build_eu_lists()
    paths = eu.write(tmp_path / "eu")
    # Every CA a node accepts on the wire needs its CRL, the qualified CA's too (as its operator publishes it).
    crl = certificates.make_crl(eu.qca_key, eu.qca_cert, [], 1, 30)
    (tmp_path / "qca.crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    spec = NodeSpec(a, [alpha], trust_list_files=lists, extra_crls=[tmp_path / "qca.crl.pem"])
    config = dcp_config(spec, root)
    lotl_entry = (
        f'\n[[trust.lists]]\nfile = "{paths["lotl"]}"\nanchor = "{paths["lotl_anchor"]}"\n'
        f'territory = "DE"\nterritory_file = "{paths["de"]}"\n'
    )
    config.write_text(config.read_text() + lotl_entry)
    # A holder of a certificate of the qualified CA that Germany lists: accepted on the wire (its credentials
    # are another matter: none of Germany's services issues credentials this node understands).
    holder_key = keys.generate_key()
    holder_id = "did:web:localhost%3A9:qualified-holder"
    holder_cert = certificates.make_tls_certificate(
        eu.qca_key, eu.qca_cert, holder_key.public_key(), holder_id, ["localhost"], "Qualified Holder", "DE", 30
    )
    (tmp_path / "holder.cert.pem").write_bytes(keys.cert_pem(holder_cert))
    keys.write_private_key(tmp_path / "holder.key.pem", holder_key)
    client = ssl.create_default_context(cafile=str(alpha.authority.ca_cert_path))
    client.load_cert_chain(tmp_path / "holder.cert.pem", tmp_path / "holder.key.pem")
    url = f"https://localhost:{a.protocol_port}/dsp/2025-1/catalog/request"
    async with running_node(config):
        am = Management(a)
        shown = await am.call("GET", "/v1/trust-lists", None, 200)
        german = next(t for t in shown["items"] if t["territory"] == "DE")
        assert german["state"] == "valid" and german["federationName"] == "Bundesnetzagentur"
        assert {s["type"].rsplit("/Svctype/", 1)[1] for s in german["services"]} == {"CA/QC", "TSA/QTST"}
        ca = next(s for s in german["services"] if s["kind"] == "ca")
        assert [h["status"].rsplit("/", 1)[1] for h in ca["history"]] == ["accredited", "granted"]
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json={}, ssl=client) as resp:
                assert resp.status == 401  # past the TLS handshake: refused for want of a token, not a CA
    # Without the entry the same certificate does not get through the handshake.
    plain = dcp_config(NodeSpec(a, [alpha], trust_list_files=lists), root)
    async with running_node(plain):
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientError):
                async with session.post(url, json={}, ssl=client) as resp:
                    await resp.read()


async def test_a_lotl_signed_by_another_key_stops_the_node_naming_the_entry(feds, tmp_path):
    root, alpha, beta, a, b, lists = feds
    eu = build_eu_lists()
    paths = eu.write(tmp_path / "eu")
    (tmp_path / "other.pem").write_bytes(keys.cert_pem(build_eu_lists().lotl_cert))
    config = dcp_config(NodeSpec(a, [alpha], trust_list_files=lists), root)
    config.write_text(
        config.read_text() + f'\n[[trust.lists]]\nfile = "{paths["lotl"]}"\nanchor = "{tmp_path / "other.pem"}"\n'
        f'territory = "DE"\nterritory_file = "{paths["de"]}"\n'
    )
    with pytest.raises(ConfigError) as err:
        async with running_node(config):
            pass
    assert err.value.code == "trust_list.anchor" and err.value.where == "trust.lists[1].file"
