"""Trust lists in a node: refused when expired or badly signed, kept for offline use, never rolled back,
refreshed from their URL, several at once."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from nodekit import Management, running_node
from trust_e2e.kit import NodeSpec, RawPeer, Signer, credentialed, dcp_config, edge, make_federation, utcnow

from connector.errors import ConfigError, ConnectorError
from connector.pki.trust_list import issue_trust_list


@pytest.fixture
def fed(tmp_path):
    return make_federation(tmp_path, "Alpha Data Space")


def _own_list(fed, tmp_path, name="node-list.jws"):
    path = tmp_path / name
    shutil.copy(fed.trust_list, path)
    return path


async def _start_fails(spec, tmp_path) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        async with running_node(dcp_config(spec, tmp_path)):
            pass
    return err.value


async def test_a_node_refuses_to_start_with_an_expired_trust_list_naming_the_entry(fed, tmp_path):
    expired = tmp_path / "expired.jws"
    issue_trust_list(fed.authority, expired, valid_days=30, now=utcnow() - timedelta(days=31))
    node = credentialed(fed, tmp_path, "org-a")
    err = await _start_fails(NodeSpec(node, [fed], trust_list_files={fed.name: expired}), tmp_path)
    assert isinstance(err, ConfigError) and err.code == "trust_list.expired"
    assert err.where == "trust.lists[0].file" and str(expired) in err.reason


@pytest.mark.parametrize(
    "damage, code",
    [
        (
            lambda t: t[:-20] + ("AAAAAAAA" if t[-20:-12] != "AAAAAAAA" else "BBBBBBBB") + t[-12:],
            "trust_list.signature",
        ),
        (lambda t: "not a list", "trust_list.malformed"),
    ],
)
async def test_a_node_refuses_to_start_with_a_badly_signed_trust_list(fed, tmp_path, damage, code):
    path = _own_list(fed, tmp_path)
    path.write_text(damage(path.read_text().strip()))
    node = credentialed(fed, tmp_path, "org-a")
    err = await _start_fails(NodeSpec(node, [fed], trust_list_files={fed.name: path}), tmp_path)
    assert err.code == code and err.where == "trust.lists[0].file"


async def test_a_list_signed_by_another_root_than_the_pinned_anchor_is_refused(fed, tmp_path):
    other = make_federation(tmp_path, "Other Data Space")
    node = credentialed(fed, tmp_path, "org-a")
    err = await _start_fails(NodeSpec(node, [fed], trust_list_files={fed.name: other.trust_list}), tmp_path)
    assert err.code == "trust_list.anchor" and err.where == "trust.lists[0].file"


async def test_the_kept_copy_is_used_when_the_file_gives_nothing_valid_and_an_older_list_never_replaces_it(
    fed, tmp_path
):
    await fed.start()
    try:
        path = _own_list(fed, tmp_path)
        first = path.read_text()
        second = issue_trust_list(fed.authority, path)  # sequence 2
        node = credentialed(fed, tmp_path, "org-a")
        peer = credentialed(fed, tmp_path, "org-b")
        spec = NodeSpec(node, [fed], trust_list_files={fed.name: path})
        async with running_node(dcp_config(spec, tmp_path)):
            (state,) = (await Management(node).call("GET", "/v1/trust-lists", None, 200))["items"]
            assert state["sequence"] == second.sequence and state["source"] == "file"
        # Offline, with the file gone: the node starts on the copy it kept.
        path.unlink()
        async with running_node(dcp_config(spec, tmp_path)), running_node(dcp_config(NodeSpec(peer, [fed]), tmp_path)):
            m = Management(node)
            (state,) = (await m.call("GET", "/v1/trust-lists", None, 200))["items"]
            assert state["source"] == "store" and state["state"] == "valid"
            token = Signer.of(peer).id_token(node.participant_id)
            status, catalog = await RawPeer(peer).catalogue(node, f"Bearer {token}")
            assert status == 200 and not (await m.call("GET", "/v1/verifications?outcome=refused", None, 200))["items"]
        # An older list (sequence 1, still valid) is a rollback: refused, the kept sequence 2 stays in force.
        path.write_text(first)
        async with running_node(dcp_config(spec, tmp_path)):
            (state,) = (await Management(node).call("GET", "/v1/trust-lists", None, 200))["items"]
            assert state["sequence"] == second.sequence and state["lastProblem"]["code"] == "trust_list.rollback"
    finally:
        await fed.stop()


async def test_a_fresher_list_is_taken_from_its_url_and_a_running_node_follows_the_file(fed, tmp_path):
    await fed.start()
    try:
        path = _own_list(fed, tmp_path)
        node = credentialed(fed, tmp_path, "org-a")
        config = dcp_config(NodeSpec(node, [fed], trust_list_files={fed.name: path}), tmp_path)
        url = f"{fed.authority.public_url}/trust-list.jws"
        config.write_text(config.read_text().replace(f'file = "{path}"', f'file = "{path}"\nurl = "{url}"'))
        async with running_node(config) as running:
            m = Management(node)
            issued = issue_trust_list(fed.authority)  # published by the authority's service only
            assert await edge(running).refresh(force_url=True)
            (state,) = (await m.call("GET", "/v1/trust-lists", None, 200))["items"]
            assert state["sequence"] == issued.sequence and state["source"] == "url"
            newer = issue_trust_list(fed.authority, path)  # and now a newer one in the file
            assert await edge(running).refresh()
            (state,) = (await m.call("GET", "/v1/trust-lists", None, 200))["items"]
            assert state["sequence"] == newer.sequence and state["source"] == "file"
    finally:
        await fed.stop()


async def test_two_lists_of_one_federation_or_one_anchor_twice_are_a_configuration_error(fed, tmp_path):
    node = credentialed(fed, tmp_path, "org-a")
    err = await _start_fails(NodeSpec(node, [fed, fed]), tmp_path)
    assert isinstance(err, ConfigError) and err.where == "trust.lists[1].anchor"
    namesake = make_federation(tmp_path, "Alpha Rekeyed")  # another root claiming the same federation id
    with namesake.authority.locked():
        namesake.authority.meta["federation_id"] = fed.authority.federation_id
        namesake.authority.save_meta()
    issue_trust_list(namesake.authority, namesake.trust_list)
    err = await _start_fails(NodeSpec(node, [fed, namesake]), tmp_path)
    assert isinstance(err, ConfigError) and err.where == "trust.lists" and "same federation" in err.reason


async def test_recognising_a_federation_without_its_crl_names_the_missing_key(fed, tmp_path):
    # Its certificates name no distribution point (an authority made before they did): only a file can say.
    other = make_federation(tmp_path, "Beta Data Space", distribution_point=False)
    node = credentialed(fed, tmp_path, "org-a")
    config = dcp_config(NodeSpec(node, [fed, other]), tmp_path)
    config.write_text(config.read_text().replace(f', "{other.authority.crl_path}"', ""))
    with pytest.raises(ConnectorError) as err:
        async with running_node(config):
            pass
    assert err.value.code == "tls.crl_missing" and err.value.where == "trust.crl"
