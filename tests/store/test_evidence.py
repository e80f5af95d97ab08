"""The evidence tables through the store: the chain, subjects, checkpoints, time-stamps and signatures, and the
guards that keep what was written as it was."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from oldforms import insert_record_kept_whole

from connector.evidence.chain import GENESIS, ChainHead, Record, next_record, verify_chain
from connector.evidence.edge.archive import next_segment
from connector.records.evidence import SIGNED, UNSIGNED, VERIFIED, StoredArchive, StoredSignature, StoredTimestamp
from connector.store.errors import StoreConflict
from connector.store.interface import Tx
from connector.store.sql import evidence as sql
from connector.store.sql.content import stored_row

KINDS = ("dsp.received", "state.changed", "credential.verified", "checkpoint")


def _append(tx: Tx, count: int) -> list[Record]:
    """`count` records after the stored head: about processes p0..p2 in turn, every fourth about none (and
    without a subject)."""
    out = []
    head = sql.head(tx)
    for _ in range(count):
        n = head.count + 1
        process = None if n % 4 == 0 else f"p{n % 3}"
        subject = f"{n % 4:064x}" if n % 4 else None  # one subject per kind, repeated
        record = next_record(
            head,
            f"2030-01-01T00:00:{n:02d}.000000Z",
            KINDS[n % 4],
            process,
            "did:web:peer",
            subject,
            {"n": n, "ü": [1.5, None]},
        )
        sql.insert_record(tx, record)
        head = record.head
        out.append(record)
    return out


async def test_records_read_back_in_order_as_the_chain_they_form(store):
    assert await store.read(sql.head) == ChainHead(0, GENESIS)
    written = await store.run(_append, 7)
    assert await store.read(sql.head) == written[-1].head and await store.read(sql.count) == 7
    rows = await store.read(lambda tx: list(sql.record_rows(tx, 1, batch=3)))
    assert [Record.from_json(r) for r in rows] == written and verify_chain(rows).ok
    middle = await store.read(lambda tx: list(sql.record_rows(tx, 3, 5, batch=2)))
    assert [r["seq"] for r in middle] == [3, 4, 5]


async def test_records_about_processes_are_found_by_process(store):
    written = await store.run(_append, 9)
    about = {p: [r.seq for r in written if r.process_id == p] for p in ("p0", "p1", "p2")}
    rows = await store.read(sql.records_of, ["p1", "p0"])
    assert [r["seq"] for r in rows] == sorted(about["p1"] + about["p0"])
    assert await store.read(sql.records_of, []) == []
    assert await store.read(sql.last_hash_of, "p2") == written[about["p2"][-1] - 1].hash
    assert await store.read(sql.last_hash_of, "nothing") is None
    assert await store.read(sql.last_seq_of, ["p0", "p1"]) == max(about["p0"] + about["p1"])
    assert await store.read(sql.last_seq_of, ["nothing"]) == 0


async def test_records_of_other_kinds_after_a_point_are_noticed(store):
    await store.run(_append, 4)  # kinds by seq: 1 state.changed, 2 credential.verified, 3 checkpoint, 4 dsp.received
    assert await store.read(sql.unannounced_since, 3, ("checkpoint",)) is True
    assert await store.read(sql.unannounced_since, 2, ("checkpoint", "dsp.received")) is False
    assert await store.read(sql.unannounced_since, 4, ("checkpoint",)) is False


async def test_the_subjects_of_records_of_a_kind_about_a_peer(store):
    written = await store.run(_append, 8)
    assert sum(r.kind == "credential.verified" for r in written) == 2
    assert await store.read(sql.subject_hashes, "credential.verified", "did:web:peer") == [f"{2:064x}"]
    assert await store.read(sql.subject_hashes, "credential.verified", "did:web:other") == []


async def test_a_record_that_does_not_extend_the_chain_is_refused(backend):
    store = backend.store
    written = await store.run(_append, 2)

    def again(tx: Tx) -> None:
        sql.insert_record(tx, written[1])

    def skipping(tx: Tx) -> None:
        sql.insert_record(
            tx, next_record(ChainHead(3, written[1].hash), "2030-01-01T00:00:00.000000Z", "x.y", None, None, None, {})
        )

    def wrong_prev(tx: Tx) -> None:
        sql.insert_record(
            tx, next_record(ChainHead(2, "f" * 64), "2030-01-01T00:00:00.000000Z", "x.y", None, None, None, {})
        )

    for refused in (again, skipping, wrong_prev):
        with pytest.raises(StoreConflict):
            await store.run(refused)
    assert await store.read(sql.count) == 2


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE evidence_records SET kind = 'state.changed'",
        "DELETE FROM evidence_records",
        "UPDATE evidence_subjects SET body = '{}'",
        "DELETE FROM evidence_subjects",
        "UPDATE evidence_checkpoints SET count = 0",
        "DELETE FROM evidence_checkpoints",
        "UPDATE evidence_timestamps SET tsa = 'x'",
        "DELETE FROM evidence_timestamps",
        "UPDATE agreement_signatures SET status = 'signed'",
        "DELETE FROM agreement_signatures",
        "UPDATE evidence_blobs SET body = '{}'",
        "UPDATE evidence_blobs SET packed = NULL",
        "UPDATE evidence_records SET packed = NULL",
        "DELETE FROM evidence_blobs",
        "UPDATE evidence_archives SET last_seq = 0",
        "DELETE FROM evidence_archives",
    ],
)
async def test_evidence_once_written_cannot_be_changed_or_deleted(backend, statement):
    store = backend.store

    def fill(tx: Tx) -> None:
        _append(tx, 2)
        sql.insert_subject(tx, "a" * 64, b'{"x":1}')
        # as a store written before subjects were kept in evidence_blobs holds them
        tx.execute("INSERT INTO evidence_subjects(sha256, body) VALUES (?, ?)", ["b" * 64, '{"x":2}'])
        tx.execute(
            "INSERT INTO evidence_archives(first_seq, last_seq, head, checkpoint_id, file, sha256, at, jws) "
            "VALUES (1, 0, 'h', 1, 'f', 's', '2030', 'jws')"
        )
        checkpoint = sql.insert_checkpoint(tx, 2, "h", "2030", "jws")
        sql.insert_timestamp(tx, StoredTimestamp(checkpoint, "2030", "tsa", "1", b"\x30\x00"))
        sql.put_signature(tx, StoredSignature("a1", "provider", UNSIGNED, "did:web:p", None, None, None, "2030"))

    await store.run(fill)
    with pytest.raises(StoreConflict, match="evidence"):
        await store.run(lambda tx: tx.execute(statement))


async def test_a_subject_is_kept_once_and_read_back_by_hash(store):
    def fill(tx: Tx) -> None:
        for i in range(1200):  # more than one chunk of hashes per statement
            sql.insert_subject(tx, f"{i:064x}", f'{{"i":{i}}}'.encode())
        sql.insert_subject(tx, f"{5:064x}", b'{"i":"again"}')

    await store.run(fill)
    wanted = [f"{i:064x}" for i in range(0, 1200, 2)] + ["f" * 64]
    found = await store.read(sql.subjects, wanted)
    assert len(found) == 600 and found[f"{4:064x}"] == '{"i":4}' and "f" * 64 not in found
    assert (await store.read(sql.subjects, [f"{5:064x}"])) == {f"{5:064x}": '{"i":5}'}
    rows = await store.read(lambda tx: list(sql.subject_rows(tx, batch=500)))
    assert [sha for sha, _ in rows] == [f"{i:064x}" for i in range(1200)]


async def test_checkpoints_are_numbered_and_found_by_what_they_cover(store):
    assert await store.read(sql.latest_checkpoint) is None

    def fill(tx: Tx) -> list[int]:
        return [
            sql.insert_checkpoint(tx, count, f"head{count}", f"2030-0{count}", f"jws{count}") for count in (2, 5, 9)
        ]

    ids = await store.run(fill)
    assert ids == sorted(ids) and len(set(ids)) == 3
    stored = await store.read(sql.checkpoints)
    assert [(c.id, c.count, c.head, c.at, c.jws) for c in stored] == [
        (ids[0], 2, "head2", "2030-02", "jws2"),
        (ids[1], 5, "head5", "2030-05", "jws5"),
        (ids[2], 9, "head9", "2030-09", "jws9"),
    ]
    assert await store.read(sql.latest_checkpoint) == stored[2]
    assert await store.read(sql.checkpoint_covering, 3) == stored[1]
    assert await store.read(sql.checkpoint_covering, 5) == stored[1]
    assert await store.read(sql.checkpoint_covering, 10) is None
    assert await store.read(sql.get_checkpoint, ids[0]) == stored[0]
    assert await store.read(sql.get_checkpoint, ids[2] + 1) is None


async def test_time_stamps_keep_their_bytes_and_are_kept_once(store):
    token = bytes(range(256))

    def fill(tx: Tx) -> tuple[int, int]:
        first = sql.insert_checkpoint(tx, 1, "h1", "2030-01", "jws1")
        second = sql.insert_checkpoint(tx, 2, "h2", "2030-02", "jws2")
        sql.insert_timestamp(tx, StoredTimestamp(second, "2030-02-01", "tsa-a", "7", token))
        sql.insert_timestamp(tx, StoredTimestamp(first, "2030-01-02", "tsa-a", "9", b"\x01"))
        sql.insert_timestamp(tx, StoredTimestamp(first, "2030-01-01", "tsa-b", "9", b"\x02"))
        sql.insert_timestamp(tx, StoredTimestamp(second, "2031", "tsa-a", "7", b"other"))  # the same stamp again
        return first, second

    first, second = await store.run(fill)
    every = await store.read(sql.timestamps)
    assert [(t.checkpoint_id, t.gen_time, t.token) for t in every] == [
        (first, "2030-01-01", b"\x02"),
        (first, "2030-01-02", b"\x01"),
        (second, "2030-02-01", token),
    ]
    assert await store.read(sql.timestamps, second) == [StoredTimestamp(second, "2030-02-01", "tsa-a", "7", token)]


async def test_the_first_signature_per_agreement_and_role_is_the_one_kept(store):
    own = StoredSignature("a1", "provider", SIGNED, "did:web:me", "jws-1", None, None, "2030-01")
    peer = StoredSignature("a1", "consumer", VERIFIED, "did:web:peer", "jws-2", None, None, "2030-02")
    other = StoredSignature("a0", "consumer", UNSIGNED, "did:web:x", None, "code", "why", "2030-03")
    assert await store.run(sql.put_signature, own) is True
    assert await store.run(sql.put_signature, peer) is True
    assert await store.run(sql.put_signature, other) is True
    assert (
        await store.run(sql.put_signature, StoredSignature("a1", "provider", SIGNED, "x", "y", None, None, "z"))
        is False
    )
    assert await store.read(sql.signatures_of, "a1") == {"provider": own, "consumer": peer}
    assert await store.read(sql.signatures_of, "none") == {}
    assert await store.read(sql.signature_rows) == [other, peer, own]


def _signature_jws(cert: str) -> str:
    import base64
    import json

    header = json.dumps({"alg": "ES256", "typ": "dsp-agreement+jws", "x5c": [cert]}).encode()
    return base64.urlsafe_b64encode(header).rstrip(b"=").decode() + "..c2ln"


async def test_large_subjects_are_kept_in_parts_once_and_read_back_exactly(store):
    from connector.canonical import canonical_bytes, sha256_hex

    cert = "MII" + "Q" * 900
    policy = {"permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "rightOperand": "x" * 600}]}]}
    messages = [
        {"@type": "ContractAgreementMessage", "agreement": {"@id": f"urn:a{i}", **policy}, "sig": _signature_jws(cert)}
        for i in range(3)
    ]
    bodies = {sha256_hex(canonical_bytes(m)): canonical_bytes(m) for m in messages}

    def fill(tx: Tx) -> None:
        for (sha, body), message in zip(bodies.items(), messages):
            sql.insert_subject(tx, sha, body, message)

    await store.run(fill)
    found = await store.read(sql.subjects, list(bodies))
    assert found == {sha: body.decode() for sha, body in bodies.items()}
    kept = await store.read(
        lambda tx: [stored_row(*r) for r in tx.execute("SELECT body, packed FROM evidence_blobs").fetchall()]
    )
    assert sum(cert in row for row in kept) == 1  # the certificate once, not once per message
    assert sum(json.dumps("x" * 600) in row for row in kept) == 1  # the policy's large value once
    rows = await store.read(lambda tx: dict(sql.subject_rows(tx)))
    assert all(sha256_hex(text.encode()) == sha for sha, text in rows.items()) and set(bodies) <= set(rows)


async def test_a_signature_is_kept_once_with_the_message_that_carried_it_and_read_back(store):
    from connector.canonical import canonical_bytes, sha256_hex

    jws = _signature_jws("MII" + "R" * 900)
    message = {"@type": "ContractAgreementMessage", "signature": jws}
    body = canonical_bytes(message)

    def fill(tx: Tx) -> None:
        sql.put_signature(tx, StoredSignature("a1", "provider", SIGNED, "did:web:p", jws, None, None, "2030"))
        sql.insert_subject(tx, sha256_hex(body), body, message)

    await store.run(fill)
    assert (await store.read(sql.signatures_of, "a1"))["provider"].jws == jws
    assert [s.jws for s in await store.read(sql.signature_rows)] == [jws]
    column = await store.read(lambda tx: tx.execute("SELECT jws FROM agreement_signatures").fetchone()[0])
    assert len(column) < 100  # a reference to the row the message shares


async def test_an_archived_segment_leaves_the_live_log_which_goes_on_from_its_checkpoint(store):
    def fill(tx: Tx) -> tuple[list[Record], list[int]]:
        written = _append(tx, 6)
        ids = [sql.insert_checkpoint(tx, n, written[n - 1].hash, f"2030-0{n}", f"jws{n}") for n in (2, 4, 6)]
        for checkpoint in ids:
            sql.insert_timestamp(tx, StoredTimestamp(checkpoint, "2030", "tsa", str(checkpoint), b"\x30\x00"))
        return written, ids

    written, ids = await store.run(fill)
    archive = StoredArchive(0, 1, 4, written[3].hash, ids[1], "evidence-1-4.json", "s" * 64, "2030-05", "jws")
    archive_id = await store.run(sql.remove_archived, archive)

    assert await store.read(sql.archives) == [replace(archive, id=archive_id)]
    rows = await store.read(lambda tx: list(sql.record_rows(tx, 1)))
    assert [r["seq"] for r in rows] == [5, 6] and verify_chain(rows, written[3].hash, start_seq=5).ok
    assert [c.count for c in await store.read(sql.checkpoints)] == [4, 6]  # its own checkpoint stays
    assert sorted(t.checkpoint_id for t in await store.read(sql.timestamps)) == ids[1:]
    assert await store.read(sql.subjects, [f"{1:064x}"]) == {}  # no subjects were kept by these records
    more = await store.run(_append, 2)  # the chain goes on from the live head
    assert [r.seq for r in more] == [7, 8] and await store.read(sql.head) == more[-1].head

    # Outside the transaction that records an archive, nothing may be removed, not even what an archive holds.
    for statement in (
        "DELETE FROM evidence_records WHERE seq <= 5",
        f"DELETE FROM evidence_checkpoints WHERE id = {ids[1]}",
    ):
        with pytest.raises(StoreConflict, match="evidence"):
            await store.run(lambda tx, s=statement: tx.execute(s))
    assert await store.read(sql.count) == 4 and len(await store.read(sql.checkpoints)) == 2


async def test_the_subjects_only_archived_records_named_leave_with_them_and_what_is_still_needed_stays(store):
    """Subjects go with the records that named them, unless the live store still needs them: named by a live
    record, kept as an agreement signature, or a part (however deep) of what a live record names."""
    from connector.canonical import canonical_bytes, sha256_hex

    cert = "MII" + "S" * 900
    jws = _signature_jws(cert)
    rules = {"permission": [{"action": "use", "constraint": [{"rightOperand": "r" * 600}]}]}

    def agreement(n: int) -> dict:
        return {"@id": f"urn:agreement:{n}", "assigner": "did:web:p", "policy": rules, "note": f"{n}" * 600}

    only_archived = {"@type": "ContractRequestMessage", "offer": agreement(1), "n": 1}
    shared = {"@type": "ContractNegotiationEventMessage", "n": 2}
    carried = agreement(3)  # an archived record's subject that a live message carries whole
    deeper = {"deep": agreement(4)}  # a part of a part of a live message
    live_message = {"@type": "ContractAgreementMessage", "agreement": carried, "envelope": {"wrapped": deeper}}
    sha = {name: sha256_hex(canonical_bytes(v)) for name, v in locals().items() if isinstance(v, dict)}
    signature_sha = sha256_hex(canonical_bytes(jws))
    legacy = {"legacy": True}
    legacy_sha = sha256_hex(canonical_bytes(legacy))
    archived_subjects = [
        (only_archived, sha["only_archived"]),
        (shared, sha["shared"]),
        (carried, sha["carried"]),
        (deeper, sha["deeper"]),
        (jws, signature_sha),
    ]

    def fill(tx: Tx) -> tuple[Record, int]:
        head, last = sql.head(tx), None
        subjects = [*archived_subjects, (legacy, legacy_sha), (shared, sha["shared"]), (live_message, None)]
        for n, (value, _) in enumerate(subjects, start=1):
            body = canonical_bytes(value)
            digest = sha256_hex(body)
            record = next_record(head, f"2030-01-01T00:00:{n:02d}.000000Z", "dsp.sent", "p", None, digest, {})
            sql.insert_record(tx, record)
            if value is legacy:  # as stores written before parts kept it
                tx.execute("INSERT INTO evidence_subjects(sha256, body) VALUES (?, ?)", [digest, body.decode()])
            else:
                sql.insert_subject(tx, digest, body, value)
            head = record.head
            if n == len(archived_subjects) + 1:
                last = record
        sql.put_signature(tx, StoredSignature("a1", "provider", SIGNED, "did:web:p", jws, None, None, "2030"))
        assert last is not None
        return last, sql.insert_checkpoint(tx, last.seq, last.hash, "2030-02", "jws")

    last, checkpoint = await store.run(fill)
    everything = [digest for _, digest in archived_subjects] + [legacy_sha]
    assert set(await store.read(sql.subjects, everything)) == set(everything)
    archive = StoredArchive(0, 1, last.seq, last.hash, checkpoint, "evidence.json", "s" * 64, "2030-03", "jws")
    await store.run(sql.remove_archived, archive)

    kept = await store.read(sql.subjects, everything)
    assert set(kept) == {sha["shared"], sha["carried"], sha["deeper"], signature_sha}
    assert kept[sha["carried"]] == canonical_bytes(carried).decode()
    assert (await store.read(sql.signatures_of, "a1"))["provider"].jws == jws
    live = await store.read(lambda tx: list(sql.record_rows(tx, 1)))
    named = [r["subject_sha256"] for r in live]
    assert set(await store.read(sql.subjects, named)) == set(named)  # every live record's subject is whole
    rows = await store.read(lambda tx: dict(sql.subject_rows(tx)))
    assert all(sha256_hex(text.encode()) == digest for digest, text in rows.items())
    assert sha["only_archived"] not in rows and legacy_sha not in rows


async def test_an_archive_cannot_remove_its_own_checkpoint_or_records_past_it(backend):
    store = backend.store
    written = await store.run(_append, 4)
    checkpoint = await store.run(sql.insert_checkpoint, 2, written[1].hash, "2030", "jws")

    def sneaky(tx: Tx) -> None:
        archive_id = sql.remove_archived(
            tx, StoredArchive(0, 1, 2, written[1].hash, checkpoint, "f", "s", "2030", "jws")
        )
        tx.execute("INSERT INTO evidence_removals(archive_id) VALUES (?)", [archive_id])
        tx.execute("DELETE FROM evidence_records WHERE seq = 3")

    with pytest.raises(StoreConflict, match="evidence"):
        await store.run(sneaky)
    assert await store.read(sql.count) == 4 and await store.read(sql.archives) == []


async def test_where_no_record_is_left_the_chain_goes_on_from_the_last_archive(store):
    # As a copy of an archived store begins: its archive rows first, then its live records.
    head = ChainHead(40, "a" * 64)
    archive = StoredArchive(0, 1, head.count, head.hash, 7, "evidence-1-40.json", "s" * 64, "2030", "jws")
    await store.run(
        lambda tx: tx.execute(
            "INSERT INTO evidence_archives(first_seq, last_seq, head, checkpoint_id, file, sha256, at, jws) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [1, archive.last_seq, archive.head, 7, archive.file, archive.sha256, archive.at, archive.jws],
        )
    )

    def record(after: ChainHead) -> Record:
        return next_record(after, "2030-01-01T00:00:00.000000Z", "x.y", None, None, None, {})

    for refused in (record(ChainHead(0, GENESIS)), record(ChainHead(40, "b" * 64)), record(ChainHead(41, "a" * 64))):
        with pytest.raises(StoreConflict):
            await store.run(sql.insert_record, refused)
    following = record(head)
    await store.run(sql.insert_record, following)
    assert await store.read(sql.head) == following.head and following.seq == 41


async def test_the_next_segment_to_archive_ends_at_a_checkpoint_old_enough_and_within_its_size(store):
    def fill(tx: Tx) -> None:
        written = _append(tx, 12)
        for n, at in ((3, "2030-01-03"), (6, "2030-01-06"), (9, "2030-01-09"), (12, "2030-01-12")):
            sql.insert_checkpoint(tx, n, written[n - 1].hash, at, f"jws{n}")

    await store.run(fill)
    segment = await store.read(next_segment, "2030-01-10")
    assert segment is not None and (segment.first, segment.prev, segment.anchor.count) == (1, GENESIS, 9)
    assert (await store.read(next_segment, "2030-01-10", 7)).anchor.count == 6  # within 7 records
    assert (await store.read(next_segment, "2030-01-10", 2)).anchor.count == 3  # none within: the shortest
    assert await store.read(next_segment, "2030-01-02") is None  # no checkpoint old enough
    assert (await store.read(next_segment, "2030-02-01")).anchor.count == 9  # the last one has no record after it
    head = (await store.read(lambda tx: list(sql.record_rows(tx, 6, 6))))[0]
    sixth = [c for c in await store.read(sql.checkpoints) if c.count == 6][0]
    archive = StoredArchive(0, 1, 6, head["hash"], sixth.id, "f", "s", "2030", "jws")
    await store.run(sql.remove_archived, archive)
    following = await store.read(next_segment, "2030-01-10")
    assert (following.first, following.prev, following.anchor.count) == (7, head["hash"], 9)


async def test_records_are_kept_packed_with_their_prev_read_from_the_record_before(store):
    """The stored form is not the hashed form: `data` packed, `prev` the hash of the record before (read back from
    there); records kept whole, as stores written before did, read back alike and the chain goes on from them."""

    def old_form(tx: Tx) -> list[Record]:
        head, out = sql.head(tx), []
        for n in (1, 2):
            record = next_record(head, f"2030-01-01T00:00:0{n}.000000Z", "x.y", "p", None, None, {"n": n})
            insert_record_kept_whole(tx.execute, record)
            head = record.head
            out.append(record)
        return out

    written = await store.run(old_form) + await store.run(_append, 4)
    rows = await store.read(lambda tx: list(sql.record_rows(tx, 1, batch=2)))
    assert [Record.from_json(r) for r in rows] == written and verify_chain(rows).ok
    about = await store.read(sql.records_of, ["p", "p1"])
    assert [Record.from_json(r) for r in about] == [r for r in written if r.process_id in ("p", "p1")]
    stored = await store.read(
        lambda tx: [tuple(r) for r in tx.execute("SELECT seq, data, prev, packed IS NULL FROM evidence_records")]
    )
    assert sorted(stored)[:2] == [(1, '{"n":1}', GENESIS, 1), (2, '{"n":2}', written[0].hash, 1)]
    assert all(data == "" and prev == "" and not whole for _, data, prev, whole in sorted(stored)[2:])
