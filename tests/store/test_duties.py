"""The usage-duty tables through the store: data received (deletions due, provenance) and fulfilment receipts."""

from __future__ import annotations

import dataclasses

from store.kit import at

from connector.records.duties import ISSUED, RECEIVED, DutyReceipt, ReceivedData
from connector.store.sql import duties as sql


def received(transfer: str, **changes: object) -> ReceivedData:
    base = ReceivedData(
        transfer_id=transfer,
        agreement_id="a1",
        provider_id="did:web:provider",
        dataset_id="rain",
        sha256="ab" * 32,
        size=2**40,
        received_at=at(0),
        file=f"/data/{transfer}.csv",
        file_stamp="12:34:56",
        duties={"inform": True, "deleteBy": "2030-01-03T00:00:00Z"},
        no_onward_transfer=True,
        delete_due_at=at(60),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_received_data_reads_back_and_is_due_for_deletion_in_order(store):
    first, second = received("t1", delete_due_at=at(120)), received("t2")
    await store.run(sql.save_received, first)
    await store.run(sql.save_received, second)
    await store.run(sql.save_received, received("t3", delete_due_at=None, no_onward_transfer=False))
    assert await store.read(sql.get_received, "t1") == first
    assert await store.read(sql.next_deletion) == at(60)
    assert await store.read(sql.deletions_due, at(59)) == []
    assert [r.transfer_id for r in await store.read(sql.deletions_due, at(500))] == ["t2", "t1"]
    done = dataclasses.replace(second, deleted_at=at(61), deletion="deleted")
    await store.run(sql.save_received, done)
    assert await store.read(sql.next_deletion) == at(120)
    assert [r.transfer_id for r in await store.read(sql.kept_without_onward_transfer)] == ["t1"]
    items, total = await store.read(sql.list_received, 10, 0, "a1")
    assert total == 3 and [r.transfer_id for r in items] == ["t1", "t2", "t3"]


async def test_a_receipt_is_kept_once_and_delivered_once(store):
    issued = DutyReceipt("cd" * 32, "a1", "t1", ISSUED, "inform", at(5), "h.p.s", at(6))
    got = DutyReceipt("ef" * 32, "a1", "t9", RECEIVED, "delete", at(1), "h.p.t", at(7))
    assert await store.run(sql.add_receipt, issued) is True
    assert await store.run(sql.add_receipt, issued) is False
    await store.run(sql.add_receipt, got)
    assert await store.read(sql.receipts_of, "a1") == [got, issued]
    assert await store.read(sql.receipts_of, "a1", ISSUED) == [issued]
    assert await store.read(sql.undelivered) == [issued]
    await store.run(sql.mark_delivered, issued.sha256, at(9))
    await store.run(sql.mark_delivered, issued.sha256, at(99))
    assert await store.read(sql.undelivered) == []
    assert (await store.read(sql.receipts_of, "a1", ISSUED))[0].delivered_at == at(9)
