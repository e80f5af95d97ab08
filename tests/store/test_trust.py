"""The trust tables through the store: replay cache, kept trust lists, own credentials, verification records."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from store.kit import at

from connector.records.trust import KeptList, OwnCredential, VerificationRecord
from connector.store.sql import trust as sql


async def test_a_token_id_is_remembered_until_it_expires(store):
    assert await store.run(sql.remember_jti, "did:web:a", "j1", at(10), at(0)) is True
    assert await store.run(sql.remember_jti, "did:web:a", "j1", at(20), at(5)) is False  # replayed
    assert await store.run(sql.remember_jti, "did:web:b", "j1", at(20), at(5)) is True  # another issuer's
    assert await store.run(sql.remember_jti, "did:web:a", "j1", at(30), at(12)) is True  # expired: taken again
    assert await store.run(sql.remember_jti, "did:web:a", "j1", at(40), at(29)) is False
    assert await store.run(sql.purge_replay, at(25)) == 1  # did:web:b's
    assert await store.run(sql.purge_replay, at(25)) == 0


def _kept(sequence: int, jws: str = "jws") -> KeptList:
    return KeptList("anchor", "fed", "Federation", sequence, "2030-01-01", "2030-02-01", "sha", jws, "file", "now")


async def test_a_kept_trust_list_is_replaced_only_by_a_later_sequence(store):
    assert await store.read(sql.kept_list, "anchor") is None
    await store.run(sql.keep_list, _kept(3, "three"))
    await store.run(sql.keep_list, _kept(2, "two"))
    await store.run(sql.keep_list, _kept(3, "three again"))
    assert await store.read(sql.kept_list, "anchor") == _kept(3, "three")
    await store.run(sql.keep_list, _kept(4, "four"))
    assert await store.read(sql.kept_list, "anchor") == _kept(4, "four")


def _own(cid: str, sha: str) -> OwnCredential:
    return OwnCredential(cid, ("VerifiableCredential", "Membership"), "did:web:issuer", None, sha, "ey.x", "f", "t")


async def test_the_stored_own_credentials_become_exactly_those_given(store):
    assert await store.run(sql.replace_own_credentials, [_own("z", "1"), _own("a", "2")]) == 2
    assert await store.run(sql.replace_own_credentials, [_own("m", "3"), _own("b", "4"), _own("m", "5")]) == 3
    assert await store.read(sql.own_credentials) == [_own("b", "4"), _own("m", "5")]
    rows = await store.read(sql.own_credential_rows)
    assert sorted((r["id"], r["sha256"], r["types"], r["token"], r["issuer"]) for r in rows) == [
        ("b", "4", '["VerifiableCredential", "Membership"]', "ey.x", "did:web:issuer"),
        ("m", "5", '["VerifiableCredential", "Membership"]', "ey.x", "did:web:issuer"),
    ]


def _verification(i: int, outcome: str, code: str | None, peer: str = "did:web:p") -> VerificationRecord:
    return VerificationRecord(f"t{i}", peer, outcome, code, None, "token", "POST", "/x", f"r{i}", {"i": i, "at": at(i)})


async def test_verification_records_are_numbered_listed_newest_first_filtered_and_pruned(store):
    records = [
        _verification(0, "verified", None),
        _verification(1, "refused", "token.expired"),
        _verification(2, "refused", "tokens.other", "did:web:q"),
        _verification(3, "refused", "presentation.bad"),
        _verification(4, "verified", None, "did:web:q"),
    ]
    ids = [await store.run(sql.record_verification, r) for r in records]
    assert ids == sorted(ids) and len(set(ids)) == 5
    listed, total = await store.read(sql.list_verifications, 2, 1)
    assert total == 5 and [r.request_id for r in listed] == ["r3", "r2"]
    assert listed[0] == dataclasses.replace(
        records[3], id=ids[3], detail={"i": 3, "at": str(at(3))}
    )  # details are kept as JSON
    for filters, expected in (
        ({"outcome": "refused"}, ["r3", "r2", "r1"]),
        ({"peer": "did:web:q"}, ["r4", "r2"]),
        ({"code": "token."}, ["r1"]),  # a prefix up to the dot
        ({"code": "token"}, []),  # an exact code
        ({"code": "presentation.bad", "outcome": "refused", "peer": "did:web:p"}, ["r3"]),
    ):
        listed, total = await store.read(
            sql.list_verifications, 10, 0, *[filters.get(k) for k in ("outcome", "peer", "code")]
        )
        assert [r.request_id for r in listed] == expected and total == len(expected), filters
    assert await store.run(sql.prune_verifications, 2) == 3
    listed, total = await store.read(sql.list_verifications, 10, 0)
    assert total == 2 and [r.request_id for r in listed] == ["r4", "r3"]


async def test_a_token_remembered_past_2038_keeps_its_expiry(store):
    far = datetime(2100, 1, 1, tzinfo=UTC)  # beyond a 32-bit count of seconds
    assert await store.run(sql.remember_jti, "did:web:a", "j", far, at(0)) is True
    assert await store.run(sql.remember_jti, "did:web:a", "j", far, datetime(2099, 12, 31, tzinfo=UTC)) is False
    assert await store.run(sql.purge_replay, datetime(2099, 12, 31, tzinfo=UTC)) == 0
    assert await store.run(sql.purge_replay, far) == 1


async def test_the_large_parts_of_verification_details_are_kept_once_and_read_back_exactly(store):
    credentials = [
        {"id": f"urn:uuid:{i}", "issuer": "did:web:issuer", "types": ["MembershipCredential"] * 8} for i in range(4)
    ]
    records = [
        dataclasses.replace(_verification(i, "verified", None), detail={"credentials": credentials, "ms": i / 3})
        for i in range(3)
    ]
    for record in records:
        await store.run(sql.record_verification, record)

    def stored(tx):
        columns = [row[0] for row in tx.execute("SELECT detail FROM verifications ORDER BY id")]
        return columns, tx.execute("SELECT COUNT(*) FROM content_blobs").fetchone()[0]

    columns, parts = await store.read(stored)
    assert parts == 6  # the credentials, each of the four and the types they share: once for the three records
    assert all(len(column) < 200 for column in columns)  # each row refers to them by hash
    listed, _ = await store.read(sql.list_verifications, 10, 0)
    assert [r.detail for r in reversed(listed)] == [{"credentials": credentials, "ms": i / 3} for i in range(3)]
