"""The agreement signer on its own (a store, no network): what it keeps, logs and refuses for each peer input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from evidence_e2e.kit import fresh_db

from connector import keys
from connector.evidence import intent
from connector.evidence.chain import Record, verify_chain
from connector.evidence.edge import tables
from connector.evidence.edge.agreement_signer import AgreementSigner, Anchors
from connector.evidence.signer import SigningIdentity
from connector.pki.authority import Authority

PROVIDER = "did:web:localhost%3A9443:provider"
CONSUMER = "did:web:localhost%3A9443:consumer"


def identity(authority: Authority, did: str, out: Path) -> SigningIdentity:
    authority.issue_participant(did, ["localhost"], out)
    key = keys.load_private_key(out / "signing.key.pem")
    return SigningIdentity(
        did,
        f"{did}#{keys.jwk_thumbprint(keys.public_jwk(key))}",
        key,
        keys.load_certificate(out / "signing.cert.pem"),
        (authority.ca_cert(),),
    )


@pytest.fixture
def parties(authority, tmp_path):
    return identity(authority, PROVIDER, tmp_path / "p"), identity(authority, CONSUMER, tmp_path / "c")


def now() -> datetime:
    return datetime.now(UTC)


def signer(me: SigningIdentity, authority: Authority, conn, require: bool = False, revoked: bool = False):
    """The signer as a node wires it: logging through `NodeEvidence.append` (which never fails a step for a
    peer's odd JSON)."""
    from connector.config import EvidenceSection
    from connector.evidence.edge.service import NodeEvidence

    evidence = NodeEvidence(me, EvidenceSection(), store=None)  # type: ignore[arg-type]
    evidence.journal.load(conn)
    anchors = Anchors(lambda: [authority.ca_cert()], lambda cert: revoked, lambda: revoked)
    return AgreementSigner(me, evidence.append, anchors, require, now)


AGREEMENT = {
    "@id": "urn:uuid:a1",
    "@type": "Agreement",
    "target": "weather",
    "assigner": PROVIDER,
    "assignee": CONSUMER,
    "timestamp": "2030-01-01T00:00:00Z",
    "permission": [{"action": "use"}],
}
CLAIMS = {"credentials": [{"sha256": "a" * 64}, {"sha256": "b" * 64}]}


def consumer_neg():
    return SimpleNamespace(id="urn:uuid:c-neg", peer_id=PROVIDER, claims=None, agreement_id="urn:uuid:a1")


def message(**extensions):
    return SimpleNamespace(extensions=extensions)


def test_a_signed_agreement_is_verified_kept_logged_and_countersigned(parties, authority):
    provider, consumer = parties
    conn_p, conn_c = fresh_db(), fresh_db()
    body = signer(provider, authority, conn_p).sign_agreement(
        conn_p, SimpleNamespace(id="urn:uuid:p-neg", peer_id=CONSUMER, claims=CLAIMS), AGREEMENT, {"@type": "X"}
    )
    jws = body[intent.AGREEMENT_SIGNATURE]
    assert read_vc(jws) == ["a" * 64, "b" * 64]
    on_consumer = signer(consumer, authority, conn_c)
    assert (
        on_consumer.receive_agreement(conn_c, consumer_neg(), AGREEMENT, message(**body))["providerSignature"]
        == "verified"
    )
    held = SimpleNamespace(id="urn:uuid:a1", policy=AGREEMENT)
    assert on_consumer.check_agreement(conn_c, consumer_neg(), held) is None
    countersigned = on_consumer.countersign(conn_c, consumer_neg(), held, {"@type": "Y"})
    assert intent.AGREEMENT_COUNTERSIGNATURE in countersigned
    stored = tables.signatures_of(conn_c, "urn:uuid:a1")
    assert (stored["provider"].status, stored["consumer"].status) == ("verified", "signed")
    records = [Record.from_json(r) for r in tables.record_rows(conn_c, 1)]
    assert [r.kind for r in records] == ["agreement.verified", "agreement.signed"] and verify_chain(records).ok


def read_vc(jws: str) -> list[str]:
    from connector.jws import read_header

    return read_header(jws)["vc_sha256"]


@pytest.mark.parametrize(
    "case, expected_code",
    [
        ("revoked", "agreement.revoked"),
        ("not ascii", "agreement.malformed"),
        ("not a string", "agreement.malformed"),
        ("other agreement", "agreement.signature"),
        ("garbage", "agreement.malformed"),
    ],
)
def test_a_bad_provider_signature_is_kept_as_invalid_and_refused_even_if_signatures_are_optional(
    parties, authority, case, expected_code
):
    provider, consumer = parties
    jws: object = intent.sign_agreement(AGREEMENT, provider, counterparty_credentials=[], now=now())
    if case == "not ascii":
        jws = str(jws) + "é"
    elif case == "not a string":
        jws = {"jws": jws}
    elif case == "other agreement":
        jws = intent.sign_agreement({**AGREEMENT, "target": "other"}, provider, counterparty_credentials=[], now=now())
    elif case == "garbage":
        jws = "a.b.c"
    conn = fresh_db()
    on_consumer = signer(consumer, authority, conn, revoked=case == "revoked")
    detail = on_consumer.receive_agreement(
        conn, consumer_neg(), AGREEMENT, message(**{intent.AGREEMENT_SIGNATURE: jws})
    )
    assert detail["providerSignature"] == "invalid" and detail["code"] == expected_code
    problem = on_consumer.check_agreement(conn, consumer_neg(), SimpleNamespace(id="urn:uuid:a1", policy=AGREEMENT))
    assert problem is not None and problem.code == expected_code
    assert tables.signatures_of(conn, "urn:uuid:a1")["provider"].status == "invalid"


def test_a_missing_signature_is_recorded_unsigned_and_refused_only_when_required(parties, authority):
    _, consumer = parties
    for require in (False, True):
        conn = fresh_db()
        on_consumer = signer(consumer, authority, conn, require=require)
        assert (
            on_consumer.receive_agreement(conn, consumer_neg(), AGREEMENT, message())["providerSignature"] == "unsigned"
        )
        held = SimpleNamespace(id="urn:uuid:a1", policy=AGREEMENT)
        problem = on_consumer.check_agreement(conn, consumer_neg(), held)
        assert (problem is not None) == require and (problem is None or problem.code == "agreement.unsigned")
        assert on_consumer.countersign(conn, consumer_neg(), held, {"@type": "Y"}) == {"@type": "Y"}


def test_an_agreement_canonical_json_cannot_express_is_refused_not_crashed_on(parties, authority):
    provider, consumer = parties
    odd = {**AGREEMENT, "permission": [{"action": "use", "constraint": [{"rightOperand": 2**80}]}]}
    conn = fresh_db()
    with pytest.raises(Exception) as raised:
        signer(provider, authority, conn).sign_agreement(
            conn, SimpleNamespace(id="urn:uuid:p", peer_id=CONSUMER, claims=None), odd, {}
        )
    assert getattr(raised.value, "code", None) == "agreement.malformed"
    jws = intent.sign_agreement(AGREEMENT, provider, counterparty_credentials=[], now=now())
    detail = signer(consumer, authority, conn).receive_agreement(
        conn, consumer_neg(), odd, message(**{intent.AGREEMENT_SIGNATURE: jws})
    )
    assert detail["providerSignature"] == "invalid" and detail["code"] == "agreement.malformed"
