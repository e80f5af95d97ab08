"""ETSI TS 119 612 trusted lists: written and read back, signatures, status history, and decisions taken by the
status a service had at the relevant time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eu_lists import DE_LOCATION, build_eu_lists
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from connector.errors import ConnectorError
from connector.evidence.timestamp import issue_tsa_certificate
from connector.keys import cert_sha256
from connector.trust.claims import MEMBERSHIP_CREDENTIAL
from connector.trust.credentials import verify_credential
from connector.trust.etsi import TSL_NS, verify_etsi_list, verify_member_list
from connector.trust.services import (
    APPROVED,
    GRANTED,
    KIND_CA,
    KIND_ISSUER,
    KIND_TSA,
    NOT_APPROVED,
    WITHDRAWN,
    ServiceHistory,
    StatusChange,
)
from connector.trust.standing import credential_problem
from connector.trust.trust_list import TrustStore, verify_self_anchored, verify_trust_list


def refused(code: str, fn, *args, **kw) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args, **kw)
    assert err.value.code == code, f"{err.value.code}: {err.value.reason}"
    return err.value


def test_a_federation_list_reads_back_as_accredited_services(world, now) -> None:
    text = world.etsi_list()
    assert text.startswith("<?xml") and f'xmlns="{TSL_NS}"' in text
    tl = verify_trust_list(text, world.root_cert, now)  # the same entry point as the JSON list
    assert (tl.format, tl.federation_id, tl.federation_name, tl.sequence) == (
        "etsi",
        "urn:federation:alpha",
        "Alpha data space",
        1,
    )
    assert tl.signer_sha256 == cert_sha256(world.root_cert)
    assert [s.kind for s in tl.services] == [KIND_CA, KIND_ISSUER]
    assert tl.ca_certificates == (world.root_cert,)
    issuer = tl.issuer(world.authority_did)
    assert issuer is not None and MEMBERSHIP_CREDENTIAL in issuer.credential_types
    assert issuer.key(world.issuer_kid).public_numbers() == world.issuer_key.public_key().public_numbers()
    assert issuer.status_list_prefixes == ("https://localhost:8443/authority/status/",)
    # The same list signed again reads the same (the hash is of the signed content, not of the signature).
    assert verify_trust_list(world.etsi_list(), world.root_cert, now).sha256 == tl.sha256


def test_every_status_of_the_history_is_read_back_in_order(world, now) -> None:
    history = (
        StatusChange(GRANTED, now - timedelta(days=300)),
        StatusChange(WITHDRAWN, now - timedelta(days=100)),
        StatusChange(GRANTED, now - timedelta(days=10)),
    )
    tl = verify_trust_list(world.etsi_list(issuer_history=history), world.root_cert, now)
    issuer = tl.issuer(world.authority_did)
    assert issuer is not None and issuer.history.changes == history
    assert etree.fromstring(world.etsi_list(issuer_history=history).encode()).findall(
        f".//{{{TSL_NS}}}ServiceHistoryInstance"
    )


def test_a_list_not_signed_under_the_pinned_anchor_or_altered_is_refused(world, pki, now) -> None:
    text = world.etsi_list()
    _, other = pki.root("Someone else")
    refused("trust_list.anchor", verify_trust_list, text, other, now)
    # A status changed after signing: the signature no longer covers the content.
    altered = text.replace("Svcstatus/granted", "Svcstatus/withdrawn", 1)
    refused("trust_list.signature", verify_trust_list, altered, world.root_cert, now)
    unsigned = text[: text.index("<ds:Signature")] + "</TrustServiceStatusList>\n"
    refused("trust_list.unsigned", verify_trust_list, unsigned, world.root_cert, now)
    refused("trust_list.malformed", verify_trust_list, "<not-a-list/>", world.root_cert, now)
    refused("trust_list.malformed", verify_trust_list, "<TrustServiceStatusList", world.root_cert, now)


def test_entities_are_not_expanded(world, now) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        f'<TrustServiceStatusList xmlns="{TSL_NS}"><x>&b;</x></TrustServiceStatusList>'
    )
    refused("trust_list.malformed", verify_trust_list, bomb, world.root_cert, now)


@pytest.mark.parametrize(
    "declared",
    ['<!ENTITY e "data">', '<!ENTITY e SYSTEM "file:///etc/hostname">'],
)
def test_a_signed_list_that_declares_entities_is_refused_before_its_signature_is_read(world, now, declared) -> None:
    """The signature's certificate is public: anyone can put it in a list of their own, so a list that declares
    an entity and uses it where the signature covers is refused as it is parsed (pinned or self-anchored alike),
    and nothing the entity names is read."""
    head, rest = world.etsi_list().split("?>", 1)
    hostile = f"{head}?><!DOCTYPE TrustServiceStatusList [{declared}]>" + rest.replace("Alpha data", "Alpha &e;", 1)
    for check, args in ((verify_trust_list, (world.root_cert, now)), (verify_self_anchored, (now,))):
        error = refused("trust_list.malformed", check, hostile, *args)
        assert "document type declaration" in error.reason


def test_a_signed_key_nested_past_reading_is_malformed(world, now) -> None:
    """Anyone can sign a list of their own for an auditor to choose: a key in it nested past the JSON parser is
    refused as a malformed list."""
    from connector.trust.etsi import sign_etsi_list

    root = etree.fromstring(world.etsi_list().encode())
    for signature in root.findall("{http://www.w3.org/2000/09/xmldsig#}Signature"):
        root.remove(signature)
    keys = [node for node in root.iter() if etree.QName(node).localname == "JsonWebKey"]
    assert keys
    keys[0].text = "[" * 100_000
    hostile = sign_etsi_list(root, world.root_key, world.root_cert)
    for check, args in ((verify_trust_list, (world.root_cert, now)), (verify_self_anchored, (now,))):
        error = refused("trust_list.malformed", check, hostile, *args)
        assert "JsonWebKey" in error.reason


def test_validity_runs_from_issue_to_next_update(world, now) -> None:
    text = world.etsi_list(issued=now - timedelta(days=40), next_update=now - timedelta(seconds=1))
    refused("trust_list.expired", verify_trust_list, text, world.root_cert, now)
    text = world.etsi_list(issued=now + timedelta(hours=1), next_update=now + timedelta(days=2))
    refused("trust_list.not_yet_valid", verify_trust_list, text, world.root_cert, now)


def test_a_service_with_a_critical_extension_not_understood_is_left_out(world, now) -> None:
    text = world.etsi_list()
    marker = "</ServiceInformation>"
    unknown = (
        '<ServiceInformationExtensions><Extension Critical="true"><y:Rule xmlns:y="urn:unknown">x</y:Rule>'
        "</Extension></ServiceInformationExtensions>"
    )
    # Re-signed with the unknown extension on the CA service (the first one).
    root = etree.fromstring(text.encode())
    root.remove(root.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    first = root.find(f".//{{{TSL_NS}}}ServiceInformation")
    first.append(
        etree.fromstring(
            unknown.replace("<ServiceInformationExtensions>", f'<ServiceInformationExtensions xmlns="{TSL_NS}">')
        )
    )
    from connector.trust.etsi import sign_etsi_list

    tl = verify_etsi_list(sign_etsi_list(root, world.root_key, world.root_cert), world.root_cert, now)
    assert [s.kind for s in tl.services] == [KIND_ISSUER] and tl.ca_certificates == ()
    assert "not understood" in tl.document["skippedServices"][0]
    assert marker in text


def test_a_credential_counts_by_its_issuers_status_when_it_was_issued(world, now) -> None:
    withdrawn = now - timedelta(days=5)
    history = (StatusChange(GRANTED, now - timedelta(days=365)), StatusChange(WITHDRAWN, withdrawn))
    store = TrustStore((verify_trust_list(world.etsi_list(issuer_history=history), world.root_cert, now),))
    before = world.membership(world.a.did, valid_from=withdrawn - timedelta(days=1))
    checked = verify_credential(before, store, world.a.did, now)
    assert checked.federation == "Alpha data space"
    after = world.membership(world.a.did, valid_from=withdrawn + timedelta(seconds=1))
    err = refused("credential.issuer_not_accredited", verify_credential, after, store, world.a.did, now)
    assert "withdrawn" in err.reason
    # The later re-check of a peer's standing applies the same rule.
    assert credential_problem(checked.verified(), store, now, timedelta(seconds=30)) is None
    # A credential issued before the service was listed at all does not count either.
    early = world.membership(world.a.did, valid_from=now - timedelta(days=400))
    refused("credential.issuer_not_accredited", verify_credential, early, store, world.a.did, now)


def test_a_time_stamp_counts_by_its_tsas_status_when_it_was_made(world, now) -> None:
    _, tsa_cert = issue_tsa_certificate(world.root_key, world.root_cert, "Alpha TSA", 365, now=now - timedelta(days=9))
    withdrawn = now - timedelta(days=1)
    history = (StatusChange(GRANTED, now - timedelta(days=10)), StatusChange(WITHDRAWN, withdrawn))
    store = TrustStore((verify_trust_list(world.etsi_list(tsa=(tsa_cert, history)), world.root_cert, now),))
    assert store.timestamp_problem(tsa_cert, withdrawn - timedelta(seconds=1)) is None
    assert "withdrawn" in (store.timestamp_problem(tsa_cert, withdrawn) or "")
    # A list that names its TSA: time-stamps chain to it, not to the federation's CA.
    assert store.tsa_anchors() == (tsa_cert,)
    # A JSON list names no TSA: its CA certifies the TSA, as before.
    assert TrustStore((world.trust_list,)).tsa_anchors() == (world.root_cert,)


def test_the_ca_anchors_follow_each_ca_services_status(world, now) -> None:
    tl = verify_trust_list(world.etsi_list(), world.root_cert, now)
    store = TrustStore((tl,))
    assert store.ca_anchors_at(now) == (world.root_cert,)
    assert store.ca_anchors_at(now - timedelta(days=400)) == ()


def test_a_member_states_list_is_read_through_the_list_of_trusted_lists(now) -> None:
    eu = build_eu_lists(now)
    tl = verify_member_list(eu.lotl, eu.lotl_cert, "DE", eu.de, now)
    assert tl.federation_name == "Bundesnetzagentur" and tl.federation_id == DE_LOCATION
    assert tl.ca_certificates == (eu.qca_cert,) and tl.tsa_certificates == (eu.qtsa_cert,)
    ca = tl.services_of(KIND_CA)[0]
    assert [c.status.rsplit("/", 1)[-1] for c in ca.history.changes] == ["accredited", "granted"]
    assert tl.services_of(KIND_TSA)[0].history.approved_at(now)
    # Only the signer the LOTL names for Germany may sign Germany's list; a LOTL must be asked for a territory.
    refused("trust_list.territory_unknown", verify_member_list, eu.lotl, eu.lotl_cert, "FR", eu.de, now)
    other = build_eu_lists(now)
    refused("trust_list.anchor", verify_member_list, eu.lotl, eu.lotl_cert, "DE", other.de, now)
    refused("trust_list.anchor", verify_member_list, eu.lotl, other.lotl_cert, "DE", eu.de, now)
    refused("trust_list.lotl", verify_trust_list, eu.lotl, eu.lotl_cert, now)
    # The member state's list is valid while the LOTL is.
    refused("trust_list.expired", verify_member_list, eu.lotl, eu.lotl_cert, "DE", eu.de, now + timedelta(days=181))


def test_approved_and_not_approved_statuses_do_not_overlap() -> None:
    assert not APPROVED & NOT_APPROVED and GRANTED in APPROVED and WITHDRAWN in NOT_APPROVED


@given(
    st.lists(st.tuples(st.integers(0, 1000), st.booleans()), min_size=1, max_size=8, unique_by=lambda x: x[0]),
    st.integers(-10, 1010),
)
def test_the_status_at_a_time_is_the_latest_change_not_after_it(changes, at) -> None:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    history = ServiceHistory.of(
        StatusChange(GRANTED if ok else WITHDRAWN, start + timedelta(days=day)) for day, ok in changes
    )
    moment = start + timedelta(days=at)
    earlier = [(day, ok) for day, ok in sorted(changes) if day <= at]
    assert history.approved_at(moment) == (bool(earlier) and earlier[-1][1])
    assert (history.why_not_at(moment) is None) == history.approved_at(moment)
