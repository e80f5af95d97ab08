"""Answers remembered by message @id: the same answer for a retry, and old ones dropped."""

from datetime import UTC, datetime, timedelta

from connector.store.sql import processes as repo
from connector.store.sqlite import SqliteStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def test_a_remembered_answer_is_returned_until_it_is_forgotten(tmp_path):
    store = SqliteStore(tmp_path / "node.db")
    await store.open()
    try:
        await store.run(repo.remember_response, "did:web:peer", "urn:uuid:old", "p1", 200, {"state": "A"}, T0)
        await store.run(
            repo.remember_response, "did:web:peer", "urn:uuid:new", "p2", 201, {"state": "B"}, T0 + timedelta(hours=25)
        )
        assert await store.read(repo.remembered_response, "did:web:peer", "urn:uuid:old") == (200, {"state": "A"})
        assert await store.read(repo.remembered_response, "did:web:other", "urn:uuid:old") is None
        dropped = await store.run(repo.forget_responses, T0 + timedelta(hours=1))
        assert dropped == 1
        assert await store.read(repo.remembered_response, "did:web:peer", "urn:uuid:old") is None
        assert await store.read(repo.remembered_response, "did:web:peer", "urn:uuid:new") == (201, {"state": "B"})
    finally:
        await store.close()
