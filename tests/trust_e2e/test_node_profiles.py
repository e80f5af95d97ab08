"""How a node starts with respect to credentials: the files it presents, and which authenticator it runs."""

from __future__ import annotations

import logging

import pytest
from nodekit import Management, make_participant, running_node, write_config
from trust_e2e.kit import NodeSpec, RawPeer, Signer, credentialed, dcp_config, make_federation

from connector.errors import ConfigError
from connector.pki.credentials import issue_participant_credential
from connector.protocol.auth import CertificateAuthenticator
from connector.trust.edge.authenticator import DcpAuthenticator


@pytest.fixture
def fed(tmp_path):
    return make_federation(tmp_path, "Alpha Data Space")


async def _refused_start(config) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        async with running_node(config):
            pass
    return err.value


async def test_a_credential_about_another_participant_stops_the_start_naming_the_entry(fed, tmp_path):
    a = credentialed(fed, tmp_path, "org-a")
    b = credentialed(fed, tmp_path, "org-b")
    theirs = issue_participant_credential(fed.authority, b.participant_id, "membership", out=tmp_path / "theirs")
    mine = sorted(a.dir.glob("*.credential.jwt"))
    err = await _refused_start(dcp_config(NodeSpec(a, [fed], credentials=mine + [theirs.path]), tmp_path))
    assert err.code == "identity.credential_subject" and err.where == "identity.credentials[2]"
    assert b.participant_id in err.reason


@pytest.mark.parametrize("content", ["", "hello", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"])
async def test_a_file_that_is_no_credential_stops_the_start_naming_the_entry(fed, tmp_path, content):
    a = credentialed(fed, tmp_path, "org-a")
    bad = tmp_path / "bad.jwt"
    bad.write_text(content)
    err = await _refused_start(dcp_config(NodeSpec(a, [fed], credentials=[bad]), tmp_path))
    assert err.code == "identity.credential_invalid" and err.where == "identity.credentials[0]"


async def test_a_missing_credential_file_is_named_by_the_configuration(fed, tmp_path):
    from connector.config import load_config

    a = credentialed(fed, tmp_path, "org-a")
    config = dcp_config(NodeSpec(a, [fed], credentials=[tmp_path / "gone.jwt"]), tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config(config, environ={})
    assert err.value.code == "config.missing_file" and err.value.where == "identity.credentials[0]"


async def test_without_trust_lists_the_certificate_alone_identifies_a_peer_and_the_node_says_so_once(
    authority, tmp_path, caplog
):
    a = make_participant(authority, tmp_path, "org-a")
    with caplog.at_level(logging.WARNING, logger="connector.trust"):
        async with running_node(write_config(a, tmp_path)) as node:
            assert isinstance(node.authenticator, CertificateAuthenticator)
            lists = await Management(a).call("GET", "/v1/trust-lists", None, 200)
            assert lists == {"items": [], "total": 0, "verifying": False}
    notes = [r for r in caplog.records if "not verified" in r.getMessage()]
    assert len(notes) == 1 and "no [[trust.lists]]" in notes[0].getMessage()


async def test_with_credentials_optional_a_request_without_a_token_is_identified_by_its_certificate(fed, tmp_path):
    await fed.start()
    try:
        a = credentialed(fed, tmp_path, "org-a")
        b = credentialed(fed, tmp_path, "org-b")
        spec = NodeSpec(a, [fed], trust={"require_credentials": False})
        async with (
            running_node(dcp_config(spec, tmp_path)) as node,
            running_node(dcp_config(NodeSpec(b, [fed]), tmp_path)),
        ):
            assert isinstance(node.authenticator, DcpAuthenticator)
            await Management(a).offer("weather")
            status, catalog = await RawPeer(b).catalogue(a, None)
            assert status == 200 and catalog["dataset"]
            # A token that is presented is still checked in full.
            status, catalog = await RawPeer(b).catalogue(a, f"Bearer {Signer.of(b).id_token('did:web:elsewhere')}")
            assert status == 401 and catalog["code"] == "token.audience" and "dataset" not in catalog
            page = await Management(a).call("GET", "/v1/verifications", None, 200)
            assert [(r["outcome"], r["code"]) for r in page["items"]] == [
                ("refused", "token.audience"),
                ("verified", None),
            ]
            assert page["items"][1]["detail"]["presentation"] == "not_presented"
    finally:
        await fed.stop()


async def test_the_tck_profile_keeps_its_static_token_authenticator(fed, tmp_path):
    from connector.protocol.auth import StaticTokenAuthenticator

    a = credentialed(fed, tmp_path, "org-a")
    config = dcp_config(NodeSpec(a, [fed]), tmp_path)
    config.write_text(config.read_text() + '\n[tck]\nenabled = true\nauthorization = "tck-static-token-0123"\n')
    async with running_node(config) as node:
        assert isinstance(node.authenticator, StaticTokenAuthenticator)
        assert node.trust.holder is None  # no tokens are sent
