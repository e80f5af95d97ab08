"""The trust edge's small pure pieces, exhaustively: the store-backed replay cache against the core's in-memory
model, verification records, and reading the Authorization header."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import ConnectorError
from connector.records.trust import VerificationRecord
from connector.store.sql import trust as repo
from connector.store.sqlite import SqliteTx, connect, migrate
from connector.trust.edge.holder import bearer
from connector.trust.edge.replay import StoreReplayCache
from connector.trust.tokens import MemoryReplayCache

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _db() -> SqliteTx:
    conn = connect(":memory:")
    migrate(conn)
    return SqliteTx(conn)


operations = st.lists(
    st.tuples(
        st.sampled_from(["did:web:a", "did:web:b"]),
        st.sampled_from(["j1", "j2", "j3"]),
        st.integers(0, 5),
        st.integers(1, 8),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_the_store_replay_cache_answers_exactly_like_the_in_memory_model(ops):
    db, model, cache = _db(), MemoryReplayCache(), StoreReplayCache()
    cache.bind(db)
    now = T0
    for issuer, jti, advance, lifetime in ops:
        now += timedelta(seconds=advance)
        until = now + timedelta(seconds=lifetime)
        assert cache.remember(issuer, jti, until, now) == model.remember(issuer, jti, until, now)


def test_the_replay_cache_refuses_when_it_cannot_reach_the_store():
    with pytest.raises(ConnectorError) as err:
        StoreReplayCache().remember("did:web:a", "j", T0, T0)
    assert err.value.code == "token.replay_unavailable"


def test_expired_replay_entries_are_purged_and_records_are_pruned_oldest_first():
    db = _db()
    assert repo.remember_jti(db, "did:web:a", "old", T0 + timedelta(seconds=5), T0)
    assert repo.remember_jti(db, "did:web:a", "new", T0 + timedelta(seconds=50), T0)
    assert repo.purge_replay(db, T0 + timedelta(seconds=10)) == 1
    assert not repo.remember_jti(db, "did:web:a", "new", T0 + timedelta(seconds=60), T0 + timedelta(seconds=10))
    for i in range(5):
        repo.record_verification(
            db,
            VerificationRecord(
                f"t{i}",
                "did:web:p",
                "refused" if i % 2 else "verified",
                "token.expired" if i % 2 else None,
                None,
                "token",
                "POST",
                "/x",
                None,
                {"i": i},
            ),
        )
    assert repo.prune_verifications(db, keep=3) == 2
    items, total = repo.list_verifications(db, 10, 0)
    assert total == 3 and [r.detail["i"] for r in items] == [4, 3, 2]
    items, total = repo.list_verifications(db, 10, 0, outcome="refused", code="token.")
    assert total == 1 and items[0].code == "token.expired"
    items, total = repo.list_verifications(db, 1, 1, peer="did:web:p")
    assert total == 3 and [r.detail["i"] for r in items] == [3]


@given(st.text(max_size=60))
def test_an_authorization_header_yields_its_bearer_token_or_a_named_refusal(header):
    try:
        token = bearer(header)
    except ConnectorError as exc:
        assert exc.code in ("token.missing", "token.malformed")
        assert exc.where == "Authorization"
        return
    scheme, _, rest = header.partition(" ")
    assert scheme.lower() == "bearer" and token == rest.strip() and token


def test_bearer_reads_the_usual_forms():
    assert bearer("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer("bearer  abc ") == "abc"
    for bad, code in (
        (None, "token.missing"),
        ("", "token.missing"),
        ("Basic abc", "token.malformed"),
        ("Bearer", "token.malformed"),
        ("Bearer   ", "token.malformed"),
    ):
        with pytest.raises(ConnectorError) as err:
            bearer(bad)
        assert err.value.code == code
