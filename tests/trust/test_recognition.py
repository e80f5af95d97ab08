"""Recognition statements: signed by the recognising federation's issuer, verified against the trust lists, applied
only when the node's own federation signed them (through others only when it says so), for the purposes they
name; revoked through a status list like any credential."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from verifier_kit import Peer, drive, new_plan

from connector.errors import ConnectorError
from connector.keys import PrivateKey, cert_sha256, generate_key
from connector.policy.engine import DecisionContext, evaluate, parse_policy
from connector.trust.claims import MEMBERSHIP_CREDENTIAL, VerifiedCredential
from connector.trust.credentials import StatusEntry, verify_credential
from connector.trust.recognition import Equivalence, Recognitions, issue_recognition, verify_recognition
from connector.trust.status_list import issue_status_list_credential
from connector.trust.trust_list import TrustStore, build_trust_list, sign_trust_list, trusted_issuer, verify_trust_list
from connector.trust.verifier import Verified


@dataclass
class Fed:
    """A second federation beside the world's 'alpha'."""

    id: str
    name: str
    root: tuple[PrivateKey, object]
    did: str
    key: PrivateKey
    status_url: str

    @property
    def kid(self) -> str:
        return f"{self.did}#vc-1"

    def trust_list(self, now):
        issuer = trusted_issuer(
            self.did,
            self.name,
            {self.kid: self.key},
            [MEMBERSHIP_CREDENTIAL],
            [self.status_url.rsplit("/", 1)[0] + "/"],
        )
        doc = build_trust_list(
            self.id,
            self.name,
            1,
            now - timedelta(days=1),
            now - timedelta(days=1),
            now + timedelta(days=30),
            [self.root[1]],
            [issuer],
        )
        return verify_trust_list(sign_trust_list(doc, self.root[0], self.root[1]), self.root[1], now)

    def recognise(self, other_id, other_name, now, *, signer=None, purposes=None, transitive=False, index=3, **kw):
        eq = Equivalence(MEMBERSHIP_CREDENTIAL, MEMBERSHIP_CREDENTIAL, {"memberOf": self.id}, purposes=purposes, **kw)
        return issue_recognition(
            self.key,
            self.kid,
            self.did,
            (self.id, self.name),
            (other_id, other_name, signer),
            [eq],
            now - timedelta(days=1),
            now + timedelta(days=90),
            StatusEntry("revocation", index, self.status_url),
            transitive,
        )

    def status_list(self, now, revoked=()):
        return issue_status_list_credential(
            self.key, self.kid, self.did, self.status_url, revoked, now - timedelta(hours=1), now + timedelta(hours=1)
        )


def fed(pki, name: str) -> Fed:
    slug = name.lower()
    return Fed(
        f"urn:dataspace:{slug}",
        f"{name} data space",
        pki.root(f"{name} root"),
        f"did:web:localhost%3A8443:{slug}",
        generate_key(),
        f"https://localhost:8443/{slug}/status/1",
    )


@pytest.fixture
def beta(pki):
    return fed(pki, "Beta")


def alpha_member(world, store, now) -> VerifiedCredential:
    return verify_credential(world.membership(world.a.did), store, world.a.did, now).verified()


def test_a_statement_verifies_against_the_recognising_federations_list(world, beta, now) -> None:
    store = TrustStore((world.trust_list, beta.trust_list(now)))
    token = beta.recognise(
        "urn:federation:alpha", "Alpha", now, signer=cert_sha256(world.root_cert), purposes=frozenset({"research"})
    )
    statement = verify_recognition(token, store, now)
    assert (statement.by, statement.of_id, statement.transitive) == ("Beta data space", "urn:federation:alpha", False)
    assert statement.equivalences[0].purposes == {"research"} and statement.status is not None
    # Without Beta's list the node cannot tell who signed it.
    with pytest.raises(ConnectorError) as err:
        verify_recognition(token, TrustStore((world.trust_list,)), now)
    assert err.value.code == "recognition.issuer_untrusted"
    # A statement about a list signed under another certificate than the one pinned for that federation.
    other = beta.recognise("urn:federation:alpha", "Alpha", now, signer="00" * 32)
    with pytest.raises(ConnectorError) as err:
        verify_recognition(other, store, now)
    assert err.value.code == "recognition.federation_mismatch"
    # Altered after signing.
    head, payload, sig = token.split(".")
    forged = ".".join((head, payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB"), sig))
    with pytest.raises(ConnectorError):
        verify_recognition(forged, store, now)


def test_a_credential_of_the_recognised_federation_counts_as_ours_only_where_our_federation_said_so(
    world, beta, now
) -> None:
    store = TrustStore((world.trust_list, beta.trust_list(now)))
    member = alpha_member(world, store, now)
    assert member.federation_id == "urn:federation:alpha"
    statement = beta.recognise("urn:federation:alpha", "Alpha", now, purposes=frozenset({"research"}))
    ours = Recognitions.build([("s", statement)], store, frozenset({beta.id}), now)
    (recognised,) = ours.candidates([member], now)
    assert recognised.credential.subject["memberOf"] == beta.id and recognised.credential.federation == beta.name
    assert recognised.purposes == {"research"} and recognised.usable_for("research") and not recognised.usable_for(None)
    assert "Beta data space recognises Alpha" in recognised.describe()
    # A node of Alpha itself, or of a third federation, does not apply Beta's statement.
    assert (
        Recognitions.build([("s", statement)], store, frozenset({"urn:federation:alpha"}), now).candidates(
            [member], now
        )
        == ()
    )
    assert (
        Recognitions.build([("s", statement)], store, frozenset({"urn:dataspace:gamma"}), now).candidates([member], now)
        == ()
    )
    # Revoked, or out of its validity: not applied.
    assert ours.candidates([member], now, frozenset({ours.statements[0].id})) == ()
    assert ours.candidates([member], now + timedelta(days=91)) == ()


def test_a_minimum_assurance_level_is_held_against_the_credential(world, beta, now) -> None:
    store = TrustStore((world.trust_list, beta.trust_list(now)))
    member = alpha_member(world, store, now)
    statement = beta.recognise("urn:federation:alpha", "Alpha", now, minimum_level="substantial")
    ours = Recognitions.build([("s", statement)], store, frozenset({beta.id}), now)
    assert ours.candidates([member], now) == ()  # the credential states no level
    import dataclasses

    high = dataclasses.replace(member, subject={**member.subject, "assuranceLevel": "high"})
    assert len(ours.candidates([high], now)) == 1


def test_through_another_federation_only_when_our_statement_is_transitive(world, beta, pki, now) -> None:
    gamma = fed(pki, "Gamma")
    store = TrustStore((world.trust_list, beta.trust_list(now), gamma.trust_list(now)))
    member = alpha_member(world, store, now)
    beta_of_alpha = beta.recognise("urn:federation:alpha", "Alpha", now)
    for transitive, expected in ((False, 0), (True, 1)):
        gamma_of_beta = gamma.recognise(beta.id, beta.name, now, transitive=transitive)
        ours = Recognitions.build([("1", beta_of_alpha), ("2", gamma_of_beta)], store, frozenset({gamma.id}), now)
        found = ours.candidates([member], now)
        assert len(found) == expected
    (chain,) = found
    assert [s.by for s in chain.path] == ["Beta data space", "Gamma data space"]
    assert chain.credential.subject["memberOf"] == gamma.id


def test_the_verifier_looks_up_the_statements_status_and_drops_a_revoked_one(world, beta, now) -> None:
    store = TrustStore((world.trust_list, beta.trust_list(now)))
    statement = beta.recognise("urn:federation:alpha", "Alpha", now, index=5, purposes=frozenset({"research"}))
    ours = Recognitions.build([("s", statement)], store, frozenset({beta.id}), now)
    lists = {world.status_url: world.status_list(), beta.status_url: beta.status_list(now)}
    step = drive(new_plan(world, now, store=store, recognitions=ours), world, Peer(world, now), now, status_lists=lists)
    assert isinstance(step, Verified) and len(step.claims.recognised) == 1, step
    assert beta.status_url in step.claims.notes["status_lists"]
    # A policy in Beta's terms is satisfied for research, with the recognition path in its trace.
    policy = parse_policy(
        {
            "permission": [
                {
                    "action": "use",
                    "constraint": [{"leftOperand": "membership", "operator": "eq", "rightOperand": beta.id}],
                }
            ]
        }
    )
    decided = evaluate(policy, DecisionContext(step.claims, now, purpose="research"))
    assert decided.permitted, decided.reasons
    node = next(n for n in decided.trace.walk() if n.kind == "constraint")
    assert "recognised: MembershipCredential" in (node.provenance or "") and "Beta data space recognises" in (
        node.provenance or ""
    )
    assert not evaluate(policy, DecisionContext(step.claims, now, purpose="marketing")).permitted
    # Revoked on Beta's status list: the peer is still verified, the recognition is not applied.
    lists[beta.status_url] = beta.status_list(now, revoked=(5,))
    step = drive(new_plan(world, now, store=store, recognitions=ours), world, Peer(world, now), now, status_lists=lists)
    assert isinstance(step, Verified) and step.claims.recognised == ()
    assert step.claims.notes["recognitions_revoked"] == (ours.statements[0].id,)
    assert not evaluate(policy, DecisionContext(step.claims, now, purpose="research")).permitted


def test_a_transfer_relying_on_a_recognition_stops_standing_when_the_statement_is_revoked(world, beta, now) -> None:
    from connector.control import claims_codec
    from connector.trust.standing import InStanding, Standing
    from connector.trust.verifier import NeedStatusLists, Refusal

    store = TrustStore((world.trust_list, beta.trust_list(now)))
    statement = beta.recognise("urn:federation:alpha", "Alpha", now, index=9)
    ours = Recognitions.build([("s", statement)], store, frozenset({beta.id}), now)
    lists = {world.status_url: world.status_list(), beta.status_url: beta.status_list(now)}
    step = drive(new_plan(world, now, store=store, recognitions=ours), world, Peer(world, now), now, status_lists=lists)
    assert isinstance(step, Verified)
    # Kept with the transfer and read back as it was.
    stored = json.loads(json.dumps(claims_codec.to_json(step.claims)))
    claims = claims_codec.from_json(stored, world.a.did, now)
    assert claims.recognised == step.claims.recognised

    def check(revoked: tuple[int, ...]):
        standing = Standing(claims, store)
        state = standing.begin(now)
        assert isinstance(state, NeedStatusLists) and beta.status_url in state.urls
        served = {**lists, beta.status_url: beta.status_list(now, revoked=revoked)}
        while isinstance(state, NeedStatusLists):
            state = standing.with_status_list(state.urls[0], served[state.urls[0]], now, now)
        return state

    assert isinstance(check(()), InStanding)
    refused = check((9,))
    assert isinstance(refused, Refusal) and refused.code == "recognition.revoked", refused
