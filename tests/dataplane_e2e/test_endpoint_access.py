"""Who may pull or push, pure: the gate's decisions from records, claims and the TLS peer, and response shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.dataplane.endpoint_access import check_pull, check_push_receipt, check_refresh, kind_of, token_digest
from connector.dataplane.pull_tokens import TokenClaims
from connector.dataplane.serving import is_repeatable, requested_range, shape, validator_matches
from connector.dsp.vocabulary import Role
from connector.dsp.vocabulary import TransferState as S
from connector.records.flows import Flow
from connector.records.processes import Transfer
from connector.sources import StreamInfo
from connector.web.ranges import ByteRange

NOW = datetime(2025, 6, 1, tzinfo=UTC)
CONSUMER = "did:web:c"
CERT = "c" * 43


def transfer(state: S = S.STARTED, role: Role = Role.PROVIDER, fmt: str = "HttpData-PULL") -> Transfer:
    return Transfer(
        id="t1",
        role=role,
        state=state,
        peer_id=CONSUMER,
        peer_address="https://c",
        agreement_id="a1",
        format=fmt,
        provider_pid="t1",
        consumer_pid="c1",
        created_at=NOW,
        updated_at=NOW,
    )


def flow(token_id: str = "j1", cert: str | None = None) -> Flow:
    return Flow("t1", "provider", "pull", NOW, token_id=token_id, token_cert=cert)


def claims(**changes) -> TokenClaims:
    base = dict(
        issuer="did:web:p",
        subject=CONSUMER,
        transfer_id="t1",
        agreement_id="a1",
        token_id="j1",
        issued_at=0,
        expires_at=10,
    )
    return TokenClaims(**(base | changes))


def test_the_current_token_of_a_started_transfer_in_its_consumers_hands_may_pull() -> None:
    assert check_pull("t1", transfer(), flow(), claims(), CONSUMER, CERT) is None


@pytest.mark.parametrize(
    "case, status, code",
    [
        (dict(transfer=None), 404, "dataplane.not_found"),
        (dict(transfer=transfer(role=Role.CONSUMER)), 404, "dataplane.not_found"),
        (dict(participant="did:web:intruder"), 403, "token.wrong_holder"),
        (dict(claims=claims(subject="did:web:intruder")), 403, "token.wrong_holder"),
        (dict(claims=claims(transfer_id="t2")), 403, "token.wrong_transfer"),
        (dict(claims=claims(agreement_id="a2")), 403, "token.wrong_transfer"),
        (dict(flow=flow(cert="d" * 43)), 403, "token.wrong_holder"),
        (dict(claims=claims(cert_sha256="d" * 43)), 403, "token.wrong_holder"),
        (dict(transfer=transfer(S.SUSPENDED)), 409, "dataplane.suspended"),
        (dict(transfer=transfer(S.REQUESTED)), 409, "dataplane.not_started"),
        (dict(transfer=transfer(S.TERMINATED)), 410, "dataplane.ended"),
        (dict(transfer=transfer(S.COMPLETED)), 410, "dataplane.ended"),
        (dict(transfer=transfer(fmt="HttpData-PUSH")), 409, "dataplane.not_pull"),
        (dict(flow=flow(token_id="j0")), 401, "token.revoked"),
        (dict(flow=None), 401, "token.revoked"),
    ],
)
def test_everything_else_is_refused_with_its_status(case, status, code) -> None:
    refusal = check_pull(
        "t1",
        case.get("transfer", transfer()) if "transfer" in case else transfer(),
        case["flow"] if "flow" in case else flow(),
        case.get("claims", claims()),
        case.get("participant", CONSUMER),
        CERT,
    )
    assert refusal is not None and (refusal.status, refusal.problem.code) == (status, code)


def test_fresh_tokens_go_only_to_the_consumer_of_a_started_pull() -> None:
    assert check_refresh("t1", transfer(), CONSUMER) is None
    assert check_refresh("t1", transfer(), "did:web:x").status == 403  # type: ignore[union-attr]
    assert check_refresh("t1", transfer(S.SUSPENDED), CONSUMER).status == 409  # type: ignore[union-attr]
    assert check_refresh("t1", None, CONSUMER).status == 404  # type: ignore[union-attr]


def test_a_push_is_received_only_from_the_provider_with_our_token_while_the_transfer_runs() -> None:
    mine = Transfer(
        id="c1",
        role=Role.CONSUMER,
        state=S.REQUESTED,
        peer_id="did:web:p",
        peer_address="https://p",
        agreement_id="a1",
        format="HttpData-PUSH",
        created_at=NOW,
        updated_at=NOW,
    )
    ours = Flow("c1", "consumer", "push", NOW, token_id=token_digest("secret"))
    assert check_push_receipt("c1", mine, ours, "secret", "did:web:p") is None
    assert check_push_receipt("c1", mine, ours, "guess", "did:web:p").status == 401  # type: ignore[union-attr]
    hashed = token_digest("secret")  # what the store keeps is not itself a token
    assert check_push_receipt("c1", mine, ours, hashed, "did:web:p").status == 401  # type: ignore[union-attr]
    assert check_push_receipt("c1", mine, ours, None, "did:web:p").status == 401  # type: ignore[union-attr]
    assert check_push_receipt("c1", mine, ours, "secret", "did:web:x").status == 403  # type: ignore[union-attr]
    ended = Transfer(**{**mine.__dict__, "state": S.TERMINATED})
    assert check_push_receipt("c1", ended, ours, "secret", "did:web:p").status == 410  # type: ignore[union-attr]
    assert check_push_receipt("c2", None, ours, "secret", "did:web:p").status == 404  # type: ignore[union-attr]


@given(st.text(max_size=12))
def test_only_push_formats_are_pushed(name) -> None:
    assert kind_of(name) == ("push" if name.upper().endswith("-PUSH") else "pull")


def test_ranges_and_validators() -> None:
    assert requested_range("bytes=100-") == ByteRange(100)
    assert requested_range("bytes=5-9") == ByteRange(5, 10)
    assert requested_range("bytes=-5") is None  # needs the size first: served whole
    assert requested_range(None) is None
    assert validator_matches(None, None) and validator_matches('"a"', '"a"')
    assert not validator_matches('"a"', '"b"') and not validator_matches('"a"', None)
    assert not validator_matches('W/"a"', 'W/"a"') and not validator_matches("Sat, 01 Jan 2000 00:00:00 GMT", '"a"')
    assert validator_matches('"x", "a"', '"a"')


def test_a_repeatable_stream_is_served_with_its_version_and_range() -> None:
    info = StreamInfo("text/csv", size=10, total_size=100, range=ByteRange(90, 100), name='r ep;".csv', etag='"v1"')
    assert is_repeatable(True, info) and not is_repeatable(False, info)
    look = shape(info, repeatable=True, seal_url="https://p/data/t1/seal")
    assert look.status == 206
    assert look.headers["Content-Range"] == "bytes 90-99/100" and look.headers["ETag"] == '"v1"'
    assert look.headers["Accept-Ranges"] == "bytes" and look.headers["Content-Length"] == "10"
    assert look.headers["Content-Disposition"] == 'attachment; filename="rep.csv"'
    assert look.headers["Link"] == '<https://p/data/t1/seal>; rel="seal"'
    whole = shape(StreamInfo("application/jsonl"), repeatable=False, seal_url="s")
    assert whole.status == 200 and "Content-Length" not in whole.headers and whole.headers["Accept-Ranges"] == "none"
