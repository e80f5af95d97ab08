"""What the node's archive reads from the store: every JSON column as its whole text, also a large value the store
keeps as a compact row of parts stored once by hash (the archive is read without the store)."""

from __future__ import annotations

import json

from store.kit import negotiation

from connector.archive.export import _rows
from connector.archive.format import BY_PATH
from connector.store.sql import processes as sql


async def test_a_large_value_kept_by_its_parts_is_archived_whole(store):
    credentials = [{"sha256": f"{i:064x}", "types": ["MembershipCredential"], "subject": "x" * 300} for i in range(4)]
    claims = {"credentials": credentials, "verifiedAt": "2030-01-01T00:00:00Z"}
    await store.run(sql.save_negotiation, negotiation("n1", claims=claims))
    stored = await store.read(lambda tx: tx.execute("SELECT claims FROM negotiations").fetchone()[0])
    assert len(stored) < len(json.dumps(claims))  # kept as a compact row, its parts by hash

    rows = await store.read(lambda tx: list(_rows(tx, BY_PATH["negotiations.jsonl"])))
    assert [json.loads(row["claims"]) for row in rows] == [claims]
