"""Negotiations, agreements, transfers, their history and outbox, and remembered answers, through the store."""

from __future__ import annotations

import dataclasses

from store.kit import agreement, at, negotiation, transfer

from connector.dsp.vocabulary import NegotiationState, Role, TransferState
from connector.store.interface import Tx
from connector.store.sql import processes as sql


async def test_a_negotiation_reads_back_exactly_as_it_was_stored(store):
    stored = negotiation(
        "n1",
        dataset_id="weather",
        offer_id="o1",
        offer={"@id": "o1", "permission": [{"action": "use"}], "ü": 1.5},
        requested={"@id": "o1"},
        agreement_id="a1",
        purpose="research",
        pending="decide",
        reason=None,
        claims={"credentials": [{"sha256": "ab", "types": ["MembershipCredential"]}]},
        deadline_at=at(60),
    )
    await store.run(sql.save_negotiation, stored)
    got = await store.read(sql.get_negotiation, "n1")
    assert got == stored
    assert got.role is Role.PROVIDER and got.state is NegotiationState.REQUESTED
    assert await store.read(sql.get_negotiation, "nothing") is None


async def test_saving_a_negotiation_again_replaces_it(store):
    await store.run(sql.save_negotiation, negotiation("n1"))
    later = negotiation("n1", 5, state=NegotiationState.AGREED, agreement_id="a1")
    await store.run(sql.save_negotiation, later)
    assert await store.read(sql.get_negotiation, "n1") == later


async def test_negotiations_are_found_by_peer_and_the_peer_s_process_id(store):
    provider = negotiation("p1", peer_id="did:web:a", consumer_pid="c-of-a")
    consumer = negotiation("c1", role=Role.CONSUMER, peer_id="did:web:b", provider_pid="p-of-b", consumer_pid="c1")
    await store.run(sql.save_negotiation, provider)
    await store.run(sql.save_negotiation, consumer)
    assert await store.read(sql.find_provider_negotiation, "did:web:a", "c-of-a") == provider
    assert await store.read(sql.find_provider_negotiation, "did:web:b", "c-of-a") is None
    assert await store.read(sql.find_consumer_negotiation, "did:web:b", "p-of-b") == consumer
    assert await store.read(sql.find_consumer_negotiation, "did:web:a", "p-of-b") is None


async def test_negotiations_are_listed_newest_first_filtered_and_counted(store):
    await store.run(sql.save_negotiation, negotiation("n1", 1))
    await store.run(sql.save_negotiation, negotiation("n2", 2, state=NegotiationState.FINALIZED))
    await store.run(
        sql.save_negotiation, negotiation("n3", 3, role=Role.CONSUMER, provider_pid="p3", consumer_pid="n3")
    )
    listed, total = await store.read(sql.list_negotiations, 2, 0)
    assert total == 3 and [n.id for n in listed] == ["n3", "n2"]
    listed, total = await store.read(sql.list_negotiations, 10, 0, None, "provider")
    assert total == 2 and [n.id for n in listed] == ["n2", "n1"]
    listed, total = await store.read(sql.list_negotiations, 10, 0, "FINALIZED", "provider")
    assert total == 1 and [n.id for n in listed] == ["n2"]
    assert sorted(n.id for n in await store.read(sql.open_negotiations)) == ["n1", "n3"]


async def test_an_agreement_reads_back_and_agreements_are_listed_newest_first(store):
    await store.run(sql.save_negotiation, negotiation("n1"))
    first, second = (
        agreement("a1", "n1", 1),
        dataclasses.replace(agreement("a2", "n1", 2), provider_address="https://p"),
    )
    await store.run(sql.save_agreement, first)
    await store.run(sql.save_agreement, second)
    await store.run(sql.save_agreement, dataclasses.replace(first, finalized=True))
    assert await store.read(sql.get_agreement, "a1") == dataclasses.replace(first, finalized=True)
    assert await store.read(sql.get_agreement, "nothing") is None
    listed, total = await store.read(sql.list_agreements, 10, 0)
    assert total == 2 and listed == [second, dataclasses.replace(first, finalized=True)]


async def test_a_transfer_reads_back_and_is_found_by_peer_and_the_peer_s_process_id(store):
    stored = transfer(
        "t1",
        "a1",
        state=TransferState.STARTED,
        data_address={"endpoint": "https://p/data", "endpointProperties": [{"name": "token", "value": "x"}]},
        claims={"credentials": []},
        deadline_at=at(30),
        consumer_pid="c-t1",
    )
    await store.run(sql.save_transfer, stored)
    assert await store.read(sql.get_transfer, "t1") == stored
    assert await store.read(sql.find_provider_transfer, "did:web:peer", "c-t1") == stored
    assert await store.read(sql.find_provider_transfer, "did:web:other", "c-t1") is None


async def test_transfers_are_listed_filtered_and_by_agreement(store):
    await store.run(sql.save_transfer, transfer("t1", "a1", 1))
    await store.run(sql.save_transfer, transfer("t2", "a2", 2, state=TransferState.COMPLETED))
    await store.run(sql.save_transfer, transfer("t3", "a1", 3, state=TransferState.TERMINATED))
    listed, total = await store.read(sql.list_transfers, 10, 0, None, None, "a1")
    assert total == 2 and [t.id for t in listed] == ["t3", "t1"]
    listed, total = await store.read(sql.list_transfers, 1, 1)
    assert total == 3 and [t.id for t in listed] == ["t2"]
    assert [t.id for t in await store.read(sql.open_transfers)] == ["t1"]
    assert [t.id for t in await store.read(sql.transfers_under, "a1")] == ["t1", "t3"]


async def test_an_agreement_s_uses_are_its_transfers_that_ever_started(store):
    def work(tx: Tx) -> None:
        for pid, role, started in (("t1", Role.PROVIDER, 2), ("t2", Role.PROVIDER, 0), ("t3", Role.CONSUMER, 1)):
            sql.save_transfer(tx, transfer(pid, "a1", role=role))
            for i in range(started):
                sql.append_history(tx, "transfer", pid, at(i), "REQUESTED", "STARTED", "sent")
        sql.append_history(tx, "transfer", "t2", at(5), "REQUESTED", "TERMINATED", "received")

    await store.run(work)
    assert await store.read(sql.count_transfers_started, "a1") == 1
    assert await store.read(sql.count_transfers_started, "a1", "consumer") == 1
    assert await store.read(sql.count_transfers_started, "a2") == 0


async def test_history_entries_are_numbered_per_process_in_order(store):
    def work(tx: Tx) -> None:
        sql.append_history(tx, "negotiation", "n1", at(1), None, "REQUESTED", "received")
        sql.append_history(tx, "negotiation", "n2", at(2), None, "REQUESTED", "received")
        sql.append_history(
            tx, "negotiation", "n1", at(3), "REQUESTED", "TERMINATED", "refused", "no offer", {"code": "x", "n": 1}
        )

    await store.run(work)
    entries = await store.read(sql.history, "n1")
    assert [(e.seq, e.from_state, e.to_state, e.cause, e.reason, e.detail) for e in entries] == [
        (1, None, "REQUESTED", "received", None, None),
        (2, "REQUESTED", "TERMINATED", "refused", "no offer", {"code": "x", "n": 1}),
    ]
    assert entries[1].at == at(3) and entries[1].kind == "negotiation"
    assert [e.seq for e in await store.read(sql.history, "n2")] == [1]


async def test_large_claims_and_details_are_kept_once_and_read_back_exactly(store):
    credentials = [{"sha256": f"{i:064x}", "types": ["MembershipCredential"], "issuer": "did:web:x"} for i in range(6)]
    trace = {"explanation": "permitted because " * 60, "trace": {"children": [{"why": "y" * 300}] * 3}}
    stored = [
        negotiation(f"n{i}", i, claims={"credentials": credentials, "verifiedAt": f"2030-01-0{i + 1}"})
        for i in range(3)
    ]

    def work(tx: Tx) -> None:
        for record in stored:
            sql.save_negotiation(tx, record)
            sql.append_history(tx, "negotiation", record.id, at(1), None, "REQUESTED", "decided", None, trace)
        sql.save_transfer(tx, transfer("t1", "a1", claims=stored[0].claims))

    await store.run(work)
    assert [await store.read(sql.get_negotiation, n.id) for n in stored] == stored
    assert (await store.read(sql.get_transfer, "t1")).claims == stored[0].claims
    assert [e.detail for e in await store.read(sql.history, "n2")] == [trace]

    def sizes(tx: Tx) -> tuple[int, int]:
        kept = sum(len(r[0]) for r in tx.execute("SELECT claims FROM negotiations").fetchall())
        parts = tx.execute("SELECT count(*) FROM content_blobs").fetchone()[0]
        return kept, parts

    kept, parts = await store.read(sizes)
    assert kept < 3 * 250 and parts <= 6  # each negotiation holds a reference; the credentials and trace once


def _enqueue(tx: Tx, pid: str, message_type: str) -> int:
    return sql.enqueue(
        tx, "negotiation", pid, "did:web:peer", "https://peer/dsp", message_type, {"@type": message_type}, at(0), at(60)
    )


async def test_the_outbox_keeps_messages_per_process_in_the_order_they_were_queued(store):
    def work(tx: Tx) -> list[int]:
        return [_enqueue(tx, "n1", "A"), _enqueue(tx, "n2", "B"), _enqueue(tx, "n1", "C")]

    first, other, third = await store.run(work)
    assert first < other < third
    entry = await store.read(sql.next_outbox, "n1")
    assert (entry.id, entry.message_type, entry.body, entry.deadline_at, entry.attempts) == (
        first,
        "A",
        {"@type": "A"},
        at(60),
        0,
    )
    assert [e.id for e in await store.read(sql.outbox_pending, "n1")] == [first, third]
    assert sorted(await store.read(sql.outbox_processes)) == ["n1", "n2"]
    await store.run(sql.outbox_failed_attempt, first, "x" * 600)
    await store.run(sql.outbox_failed_attempt, first, "refused")
    entry = await store.read(sql.next_outbox, "n1")
    assert (entry.attempts, entry.last_error) == (2, "refused")
    await store.run(sql.outbox_failed_attempt, third, "y" * 600)
    assert (await store.read(sql.outbox_pending, "n1"))[1].last_error == "y" * 500
    await store.run(sql.outbox_done, first)
    assert (await store.read(sql.next_outbox, "n1")).id == third
    assert await store.run(sql.outbox_drop_process, "n1") == 1
    assert await store.read(sql.next_outbox, "n1") is None
    assert await store.read(sql.outbox_processes) == ["n2"]


async def test_an_agreement_is_finalised_once_and_queued_messages_are_counted(store):
    def work(tx: Tx) -> None:
        sql.save_negotiation(tx, negotiation("n1", purpose="research"))
        _enqueue(tx, "n1", "A")
        _enqueue(tx, "n1", "B")

    await store.run(work)
    assert await store.read(sql.count_queued, "n1") == 2
    assert await store.read(sql.count_queued, "none") == 0
    assert await store.read(sql.negotiation_purpose, "n1") == "research"
    assert await store.read(sql.negotiation_purpose, "none") is None
    await store.run(sql.save_agreement, agreement("a1", "n1"))
    await store.run(sql.finalize_agreement, "a1")
    await store.run(sql.finalize_agreement, "a1")  # once final, it stays so
    await store.run(sql.finalize_agreement, "unknown")
    assert (await store.read(sql.get_agreement, "a1")).finalized is True


async def test_an_answer_is_remembered_by_peer_and_message_replaced_and_forgotten_by_age(store):
    await store.run(sql.remember_response, "did:web:a", "m1", "n1", 201, {"state": "A"}, at(0))
    await store.run(sql.remember_response, "did:web:a", "m1", "n2", 200, {"state": "B"}, at(10))
    await store.run(sql.remember_response, "did:web:b", "m1", None, 400, ["x"], at(20))
    assert await store.read(sql.remembered_response, "did:web:a", "m1") == (200, {"state": "B"})
    assert await store.read(sql.remembered_response, "did:web:b", "m1") == (400, ["x"])
    assert await store.read(sql.remembered_response, "did:web:a", "m2") is None
    assert await store.read(sql.remembered_response, "did:web:c", "m1") is None  # another peer's id is not theirs
    assert await store.run(sql.forget_responses, at(15)) == 1
    assert await store.read(sql.remembered_response, "did:web:a", "m1") is None
    assert await store.read(sql.remembered_response, "did:web:b", "m1") == (400, ["x"])
