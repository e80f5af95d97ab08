"""The services an authority accredits: their status history, what each trust list form says of them, and an
issuer that issues nothing once withdrawn."""

from datetime import UTC, datetime, timedelta

import pytest

from connector.errors import ConnectorError
from connector.pki.credentials import issue_participant_credential
from connector.pki.services import change_status, services
from connector.pki.trust_list import issue_trust_list
from connector.trust.services import GRANTED, KIND_TSA, WITHDRAWN
from connector.trust.trust_list import verify_trust_list

PID = "did:web:localhost%3A8443:org-a"


def test_a_new_folder_has_its_three_services_granted_since_its_root_certificate(authority):
    found = {s.key: s for s in services(authority)}
    assert set(found) == {"ca", "issuer", "tsa"}
    start = authority.ca_cert().not_valid_before_utc
    assert all(s.history.changes == s.history.changes[:1] for s in found.values())
    assert {(c.status, c.since) for s in found.values() for c in s.history.changes} == {(GRANTED, start)}


def test_a_status_change_is_appended_never_rewritten(authority):
    later = datetime.now(UTC) + timedelta(minutes=1)
    record = change_status(authority, "tsa", "withdrawn", later)
    assert [c.status for c in record.history.changes] == [GRANTED, WITHDRAWN]
    with pytest.raises(ConnectorError) as err:
        change_status(authority, "tsa", "granted", later - timedelta(seconds=30))
    assert err.value.code == "pki.bad_time" and err.value.where == "--since"
    for bad, code in (("nope", "pki.bad_status"),):
        with pytest.raises(ConnectorError) as err:
            change_status(authority, "tsa", bad)
        assert err.value.code == code
    with pytest.raises(ConnectorError) as err:
        change_status(authority, "ocsp", "withdrawn")
    assert err.value.code == "pki.unknown_service"


def test_the_etsi_list_carries_the_history_and_the_json_list_leaves_a_withdrawn_issuer_out(authority, tmp_path):
    change_status(authority, "issuer", "withdrawn")
    now = datetime.now(UTC) + timedelta(seconds=2)
    etsi = verify_trust_list(issue_trust_list(authority, tmp_path / "l.xml").token, authority.ca_cert(), now)
    issuer = etsi.issuer(authority.issuer_id)
    assert issuer is not None and [c.status for c in issuer.history.changes] == [GRANTED, WITHDRAWN]
    assert etsi.services_of(KIND_TSA) and (authority.dir / "tsa.cert.pem").exists()
    jws = verify_trust_list(issue_trust_list(authority, tmp_path / "l.jws").token, authority.ca_cert(), now)
    assert jws.issuers == () and jws.ca_certificates == (authority.ca_cert(),)
    assert etsi.sequence < jws.sequence  # one counter for both forms


def test_a_withdrawn_issuer_issues_nothing(authority, tmp_path):
    authority.issue_participant(PID, ["localhost"], tmp_path / "org-a")
    issue_participant_credential(authority, PID, "membership", out=tmp_path / "org-a")
    change_status(authority, "issuer", "withdrawn")
    with pytest.raises(ConnectorError) as err:
        issue_participant_credential(authority, PID, "membership", out=tmp_path / "org-a")
    assert err.value.code == "pki.service_withdrawn"
