"""Organisation credentials checked against a base registry at issuance: the registry's facts, not the request's,
go into the credential, and the check is recorded."""

import json

import pytest
from registry_samples import CLOSED, KAWASAKI, LAPSED, RHEIN, write_gleif, write_nta

from connector.errors import ConnectorError
from connector.pki.credentials import RegistryRequest, issue_participant_credential
from connector.trust.credentials import read_credential_unverified
from connector.trust.registries import read_registry_facts

PID = "did:web:localhost%3A8443:org-a"


@pytest.fixture
def files(tmp_path):
    return {
        "nta": write_nta(tmp_path / "registries" / "00_zenkoku_all_20260331.csv"),
        "gleif": write_gleif(tmp_path / "registries" / "20260601-0000-gleif-goldencopy-lei2-golden-copy.csv"),
    }


def _issue(authority, tmp_path, registry, file, identifier, **kw):
    return issue_participant_credential(
        authority,
        PID,
        "organization",
        out=tmp_path / "org-a",
        registry=RegistryRequest(registry, file, identifier),
        **kw,
    )


def test_a_corporate_number_check_puts_the_registrys_facts_in_the_credential(authority, tmp_path, files):
    issued = _issue(authority, tmp_path, "jp-corporate-number", files["nta"], KAWASAKI.identifier)
    subject = read_credential_unverified(issued.token).subject
    facts = read_registry_facts(subject)
    assert facts is not None
    assert subject["legalName"] == "川崎データ流通株式会社" and subject["countryOfEstablishment"] == "JP"
    assert facts.legal_entity == f"jp-corporate-number:{KAWASAKI.identifier}"
    assert facts.address.street == "1-2-3 Marunouchi" and facts.address.postal_code == "1000005"
    assert facts.source.name == "00_zenkoku_all_20260331.csv" and facts.source.published == "2026-03-31"
    import hashlib

    assert facts.source.sha256 == hashlib.sha256(files["nta"].read_bytes()).hexdigest()
    ledger = {e["id"]: e for e in authority.credential_ledger()}
    recorded = ledger[issued.id]["registry_check"]
    assert recorded["identifier"] == KAWASAKI.identifier and recorded["status"] == "registered"
    assert json.loads((authority.dir / "credentials.json").read_text())  # durable


def test_an_lei_check_and_a_name_given_alongside(authority, tmp_path, files):
    issued = _issue(authority, tmp_path, "lei", files["gleif"], RHEIN.identifier, name="rhein  datenwerk gmbh")
    facts = read_registry_facts(read_credential_unverified(issued.token).subject)
    assert facts is not None and facts.legal_name == "Rhein Datenwerk GmbH" and facts.address.country == "DE"
    with pytest.raises(ConnectorError) as err:
        _issue(authority, tmp_path, "lei", files["gleif"], RHEIN.identifier, name="Other GmbH")
    assert err.value.code == "pki.registry_mismatch" and err.value.where == "--name"
    with pytest.raises(ConnectorError) as err:
        _issue(authority, tmp_path, "lei", files["gleif"], RHEIN.identifier, country="FR")
    assert err.value.code == "pki.registry_mismatch" and err.value.where == "--country"


@pytest.mark.parametrize(
    ("registry", "file", "identifier", "code", "where"),
    [
        ("jp-corporate-number", "nta", CLOSED.identifier, "pki.registry_inactive", "--registry-id"),
        ("lei", "gleif", LAPSED.identifier, "pki.registry_inactive", "--registry-id"),
        ("lei", "gleif", "5493001KJTIIGC8Y1R12", "pki.registry_not_found", "--registry-id"),
        ("lei", "gleif", "5493001KJTIIGC8Y1R13", "pki.registry_identifier", "--registry-id"),
        ("lei", "missing", RHEIN.identifier, "pki.registry_missing", "--registry-file"),
        ("jp-corporate-number", "gleif", KAWASAKI.identifier, "pki.registry_unreadable", "--registry-file"),
    ],
)
def test_what_the_registry_does_not_confirm_is_not_issued(
    authority, tmp_path, files, registry, file, identifier, code, where
):
    path = files.get(file, tmp_path / "nowhere.csv")
    with pytest.raises(ConnectorError) as err:
        _issue(authority, tmp_path, registry, path, identifier)
    assert (err.value.code, err.value.where) == (code, where), err.value.reason
    assert not authority.credential_ledger()


def test_a_registry_check_is_for_organisation_credentials(authority, tmp_path, files):
    with pytest.raises(ConnectorError) as err:
        issue_participant_credential(
            authority, PID, "membership", registry=RegistryRequest("lei", files["gleif"], RHEIN.identifier)
        )
    assert err.value.code == "pki.credential_option"


def _hostile(files, kind: str) -> tuple[str, object]:
    """A publication someone else made, with something no registry writes before the entry asked for."""
    if kind == "long field":  # past the CSV reader's own bound on a field
        return "jp-corporate-number", b'"' + b"x" * 200_000 + b'",1\n' + files["nta"].read_bytes()
    if kind == "open quote":  # a quoted field never closed: the reader takes the lines after it in, up to its bound
        return "lei", files["gleif"].read_bytes().replace(b"\r\n", b'\r\n"', 1) + b"y\r\n" * 100_000
    return "lei", files["gleif"].read_bytes().replace(b"\r\n", b"\r\n" + b"x" * 50_000_000, 1)  # one long line


@pytest.mark.parametrize(("kind", "line"), [("long field", 1), ("open quote", 43_555), ("long line", 2)])
def test_a_publication_no_registry_wrote_is_refused_naming_its_line_in_bounded_memory(
    authority, tmp_path, files, kind, line
):
    import tracemalloc

    registry, content = _hostile(files, kind)
    path = tmp_path / "registries" / "hostile_20260401.csv"
    path.write_bytes(content)
    identifier = KAWASAKI.identifier if registry == "jp-corporate-number" else RHEIN.identifier
    tracemalloc.start()
    try:
        with pytest.raises(ConnectorError) as err:
            _issue(authority, tmp_path, registry, path, identifier)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (err.value.code, err.value.where) == ("pki.registry_unreadable", "--registry-file"), err.value.reason
    assert str(path) in err.value.reason and f"line {line}" in err.value.reason, err.value.reason
    assert peak < 10_000_000, peak
    assert not authority.credential_ledger()
