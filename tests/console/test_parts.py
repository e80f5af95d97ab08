"""The console's parts on their own: sessions and their expiry, where an API problem's field goes on a form, the
readable forms of policies, timelines and refusals, and the way to the node's own API."""

from __future__ import annotations

import re

import pytest

from connector.config import Listen
from connector.console import explain
from connector.console.api import local_base, path
from connector.console.auth import _safe_next
from connector.console.definitions import KINDS, FieldError, asset_json, field_of, offer_form, offer_json
from connector.console.overview import refusals_by_reason
from connector.console.rendering import Templates
from connector.console.sessions import MAX_SESSIONS, Sessions, same_token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_lives_while_used_and_ends_when_idle_too_long():
    clock = Clock()
    sessions = Sessions(idle=60, lifetime=3600, clock=clock)
    sid, session = sessions.open(authenticated=True)
    for _ in range(5):
        clock.now += 50
        found, expired = sessions.find(sid)
        assert found is not None and not expired and found.csrf == session.csrf
    clock.now += 61
    assert sessions.find(sid) == (None, True)
    assert sessions.find(sid) == (None, False)  # gone for good


def test_a_session_ends_after_its_lifetime_however_busy():
    clock = Clock()
    sessions = Sessions(idle=60, lifetime=200, clock=clock)
    sid, _ = sessions.open(authenticated=True)
    for _ in range(4):
        clock.now += 50
        assert sessions.find(sid)[0] is not None
    clock.now += 1
    assert sessions.find(sid) == (None, True)


def test_sessions_are_bounded_and_keep_only_digests():
    sessions = Sessions(idle=60)
    ids = [sessions.open(authenticated=False)[0] for _ in range(MAX_SESSIONS + 5)]
    assert len(sessions) == MAX_SESSIONS
    assert sessions.find(ids[0])[0] is None and sessions.find(ids[-1])[0] is not None
    assert not [i for i in ids if i in sessions._held]


def test_a_notice_is_said_once():
    sessions = Sessions(idle=60)
    sid, _ = sessions.open(authenticated=True)
    sessions.tell(sid, "Created asset x.")
    assert sessions.take_notice(sid) == "Created asset x."
    assert sessions.take_notice(sid) is None


def test_form_tokens_compare_whole():
    assert same_token("abc", "abc")
    assert not same_token("abc", "ab") and not same_token("abc", "") and not same_token("abc", None)


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("source.path", "source"),
        ("policy.permission[0].constraint[0].leftOperand", "policy"),
        ("formats[1]", "formats"),
        ("id", "id"),
        ("assetId", None),  # not a field of an asset form
        (None, None),
        ("", None),
    ],
)
def test_an_api_problem_lands_on_the_field_it_names(where, field):
    assert field_of(where, KINDS["assets"].fields + KINDS["policies"].fields) == field


def test_an_asset_form_becomes_the_apis_json():
    body = asset_json(
        {
            "id": "a",
            "title": "T",
            "keywords": "x, y,,",
            "formats": ["HttpData-PULL"],
            "source": '{"type": "file", "path": "a.csv"}',
            "properties": "",
        }
    )
    assert body["keywords"] == ["x", "y"] and body["source"] == {"type": "file", "path": "a.csv"}
    assert "properties" not in body and body["mediaType"] == "application/octet-stream"
    with pytest.raises(FieldError) as bad:
        asset_json({"id": "a", "source": "{not json"})
    assert bad.value.field == "source" and "not valid JSON" in bad.value.reason
    with pytest.raises(FieldError) as bad:
        asset_json({"id": "a", "source": "[1]"})
    assert "JSON object" in bad.value.reason
    with pytest.raises(FieldError) as bad:  # pasted from anywhere: the form says so, not a server error
        asset_json({"id": "a", "source": '{"a":' * 100_000})
    assert bad.value.field == "source" and "nests arrays and objects too deeply" in bad.value.reason


def test_an_offer_read_back_becomes_the_same_offer():
    offer = {"id": "o", "assetId": "a", "contractPolicyId": "p", "accessPolicyId": None, "createdAt": "2026-01-01"}
    assert offer_json(offer_form(offer)) == {"id": "o", "assetId": "a", "contractPolicyId": "p"}


def test_policies_in_words():
    policy = {
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["research", "health"]},
                    {"or": [{"leftOperand": "count", "operator": "lteq", "rightOperand": "2"}]},
                ],
            }
        ],
        "prohibition": [{"action": "distribute"}],
    }
    assert explain.policy_words(policy) == [
        "permission use: purpose isAnyOf research, health and (count lteq 2)",
        "prohibition distribute (no constraint)",
    ]
    assert explain.policy_words({}) == ["no rule"] and explain.policy_words(None) == []


def test_a_timeline_tells_moves_from_events_and_finds_the_decisions():
    history = [
        {"at": "t1", "from": None, "to": "REQUESTED", "cause": "received ContractRequestMessage"},
        {
            "at": "t2",
            "from": "REQUESTED",
            "to": "REQUESTED",
            "cause": "contract policy decided",
            "detail": {"trace": {}},
        },
        {"at": "t3", "from": "REQUESTED", "to": "AGREED", "cause": "sent", "detail": {"dataset": "x"}},
    ]
    steps = explain.timeline(history)
    assert [(s.moved_from, s.state) for s in steps] == [
        ("-", "REQUESTED"),
        (None, "REQUESTED"),
        ("REQUESTED", "AGREED"),
    ]
    assert explain.decisions(history) == [history[1]]


def test_refusals_are_grouped_by_the_failed_check_most_frequent_first():
    items = [
        {"code": "token.expired", "at": "3", "reason": "late", "peer": "did:web:b"},
        {"code": "certificate.revoked", "at": "2", "reason": "revoked", "peer": "did:web:a"},
        {"code": "token.expired", "at": "1", "reason": "older", "peer": "did:web:a"},
        {"code": None, "at": "0", "reason": "?", "peer": None},
    ]
    groups = refusals_by_reason(items)
    assert [(g.code, g.count) for g in groups] == [("token.expired", 2), ("certificate.revoked", 1), ("unknown", 1)]
    assert groups[0].last_at == "3" and groups[0].reason == "late" and groups[0].peers == ("did:web:b", "did:web:a")
    assert groups[2].peers == ("(no certificate)",)


def test_a_counterpartys_claims_read_as_words_nested_ones_too():
    subject = {
        "id": "did:web:tokyo.example",
        "countryOfEstablishment": "JP",
        "legalAddress": {"countryCode": "JP", "locality": "Chiyoda ku"},
        "registration": {"identifier": "9010401123456", "source": {"name": "zenkoku.csv", "published": "2026-12-07"}},
        "sectors": ["mobility", "energy"],
        "verified": True,
    }
    claimed = {"verifiedAt": "2026-12-07T14:51:45Z", "participantId": "did:web:tokyo.example"}
    claimed["credentials"] = [{"types": ["OrganizationCredential"], "subject": subject, "issuer": "did:web:eu"}]
    page = Templates().env.get_template("macros.html").make_module({}).claims({"counterPartyClaims": claimed})
    facts = re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", str(page))
    assert facts == [
        ("countryOfEstablishment", "JP"),
        ("legalAddress", "countryCode JP, locality Chiyoda ku"),
        ("registration", "identifier 9010401123456, source (name zenkoku.csv, published 2026-12-07)"),
        ("sectors", "mobility, energy"),
        ("verified", "true"),
    ]


@pytest.mark.parametrize(
    ("listen", "tls", "url"),
    [
        (Listen("127.0.0.1", 8181), False, "http://127.0.0.1:9000"),
        (Listen("0.0.0.0", 8181), True, "https://127.0.0.1:9000"),
        (Listen("::", 8181), False, "http://[::1]:9000"),
        (Listen("10.1.2.3", 8181), True, "https://10.1.2.3:9000"),
        (Listen("localhost", 8181), False, "http://localhost:9000"),
    ],
)
def test_the_console_reaches_its_own_listener_where_it_is_bound(listen, tls, url):
    assert local_base(listen, 9000, tls) == url


def test_api_paths_quote_ids_and_drop_empty_parameters():
    assert path("/v1/negotiations", "urn:uuid:1/2", wait="FINALIZED", timeout=None) == (
        "/v1/negotiations/urn%3Auuid%3A1%2F2?wait=FINALIZED"
    )


@pytest.mark.parametrize(
    ("target", "goes"),
    [
        ("/console/evidence", "/console/evidence"),
        ("https://elsewhere.example/", "/console/"),
        ("//elsewhere.example/console/", "/console/"),
        ("/console//elsewhere.example", "/console/"),
        ("/console/\\elsewhere", "/console/"),
        ("/v1/assets", "/console/"),
        (None, "/console/"),
    ],
)
def test_after_sign_in_only_console_pages(target, goes):
    assert _safe_next(target) == goes


def test_the_nodes_own_material_and_how_long_it_stays_good(authority, tmp_path):
    from nodekit import make_participant, write_config

    from connector.config import load_config
    from connector.console.material import OwnMaterial

    p = make_participant(authority, tmp_path, "org")
    config = load_config(write_config(p, tmp_path), environ={})
    read = OwnMaterial(config).read()
    assert [m.what for m in read] == ["TLS certificate", "signing certificate", "revocation list"]
    assert all(m.problem is None and m.valid_until for m in read), read
    assert "Test Federation" in read[2].subject
    authority.crl_path.write_text("not a CRL")
    assert OwnMaterial(config).read()[2].problem.startswith("unreadable")
