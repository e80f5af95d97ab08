"""DCP credential issuance, the pure part: every message as the official schemas describe it, read back strictly,
and the storage grant a holder gives one issuer."""

from datetime import UTC, datetime, timedelta

import pytest
from dcp_oracle import ISSUANCE_EXAMPLES, example, schema_problems

from connector import keys
from connector.errors import ConnectorError
from connector.trust import issuance
from connector.trust.did import DidKey, build_did_document, parse_did_document

HOLDER = "did:web:holder.example"
ISSUER = "did:web:issuer.example"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_every_message_this_project_writes_is_valid_under_the_official_schemas():
    metadata = issuance.IssuerMetadata(
        ISSUER, (issuance.CredentialObject(f"{ISSUER}#MembershipCredential", "MembershipCredential", "https://x/s"),)
    )
    written = {
        "IssuerMetadata": metadata.to_json(),
        "CredentialObject": metadata.credentials[0].to_json(),
        "CredentialRequestMessage": issuance.CredentialRequestMessage("urn:uuid:1", ("a", "b")).to_json(),
        "CredentialStatus": issuance.CredentialStatus("i", "h", issuance.RECEIVED).to_json(),
    }
    issued = issuance.CredentialMessage("i", "h", issuance.ISSUED, (issuance.CredentialContainer("T", "jwt"),))
    rejected = issuance.CredentialMessage("i", "h", issuance.REJECTED, rejection_reason="no name on record")
    for kind, document in written.items():
        assert schema_problems(kind, document) == [], kind
    for message in (issued, rejected):
        assert schema_problems("CredentialMessage", message.to_json()) == []


def test_the_official_examples_are_read_as_they_are_meant():
    assert issuance.parse_issuer_metadata(example("issuer-metadata.json")).credentials[0].credential_type == (
        "CompanyCredential"
    )
    request = issuance.parse_credential_request(example("credential-request-message.json"))
    assert request.holder_pid == "holderPid" and len(request.credential_ids) == 2
    assert issuance.parse_credential_status(example("credential-status.json")).status == "RECEIVED"
    rejected = issuance.parse_credential_message(example("credential-message-rejected.json"))
    assert rejected.status == "REJECTED" and rejected.rejection_reason == "final approval not granted"
    with pytest.raises(ConnectorError) as err:  # the example's second credential is JSON-LD, which is refused
        issuance.parse_credential_message(example("credential-message.json"))
    assert err.value.code == "dcp.format_unsupported"
    assert set(ISSUANCE_EXAMPLES) >= {"credential-message.json"}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            {"@context": [], "type": "CredentialRequestMessage", "holderPid": "h", "credentials": [{"id": "a"}]},
            "@context",
        ),
        ({"@context": [issuance.vocab.DCP_CONTEXT], "type": "X", "holderPid": "h", "credentials": []}, "type"),
        (
            {"@context": [issuance.vocab.DCP_CONTEXT], "type": "CredentialRequestMessage", "credentials": []},
            "holderPid",
        ),
        (
            {
                "@context": [issuance.vocab.DCP_CONTEXT],
                "type": "CredentialRequestMessage",
                "holderPid": "h",
                "credentials": [],
            },
            "credentials",
        ),
        (
            {
                "@context": [issuance.vocab.DCP_CONTEXT],
                "type": "CredentialRequestMessage",
                "holderPid": "h",
                "credentials": [{"id": "a"}, {"id": "a"}],
            },
            "credentials",
        ),
    ],
)
def test_a_malformed_request_is_refused_naming_the_field(body, where):
    with pytest.raises(ConnectorError) as err:
        issuance.parse_credential_request(body)
    assert err.value.code == "dcp.malformed" and err.value.where == where


def _holder_document(key):
    kid_fragment = keys.jwk_thumbprint(keys.public_jwk(key))
    document = build_did_document(
        HOLDER, [DidKey(kid_fragment, key.public_key())], "https://holder.example/dcp", "https://holder.example/dsp"
    )
    return parse_did_document(document, HOLDER), f"{HOLDER}#{kid_fragment}"


def test_a_storage_grant_lets_one_issuer_write_the_types_it_names_and_nothing_else():
    key = keys.generate_key()
    document, kid = _holder_document(key)
    grant = issuance.issue_storage_grant(key, kid, HOLDER, ISSUER, ["MembershipCredential"], NOW)
    assert issuance.check_storage_grant(grant, document, ISSUER, NOW + timedelta(days=3)) == {"MembershipCredential"}
    with pytest.raises(ConnectorError) as err:
        issuance.check_storage_grant(grant, document, "did:web:other-issuer.example", NOW)
    assert err.value.code == "access_token.subject"
    with pytest.raises(ConnectorError) as err:
        issuance.check_storage_grant(grant, document, ISSUER, NOW + issuance.GRANT_LIFETIME + timedelta(minutes=5))
    assert err.value.code == "access_token.expired"
    stranger, _ = _holder_document(keys.generate_key())
    with pytest.raises(ConnectorError) as err:
        issuance.check_storage_grant(grant, stranger, ISSUER, NOW)
    assert err.value.code.startswith("access_token.")


def test_an_issuer_refusal_nested_past_reading_is_told_by_its_status() -> None:
    from connector.trust.edge.issuance import _reason

    assert _reason(b"[" * 100_000, 400) == "HTTP 400"
    assert _reason(b'{"code": "issuance.denied", "reason": "not a member"}', 403) == "issuance.denied: not a member"
