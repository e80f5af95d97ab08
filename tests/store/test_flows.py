"""The data plane's tables through the store: flows and the digests of repeatable sources."""

from __future__ import annotations

import dataclasses

from store.kit import at

from connector.records.flows import Flow, KnownDigest
from connector.store.sql import flows as sql


async def test_a_flow_reads_back_exactly_and_saving_it_again_replaces_it(store):
    flow = Flow(
        "t1",
        "provider",
        "pull",
        at(0),
        epoch=1,
        token_id="jti-1",
        token_expires_at=at(60),
        token_cert="x5t",
        address={"endpoint": "https://p/data", "endpointProperties": [{"name": "authorization", "value": "t"}]},
        sha256="ab" * 32,
        size=2**40,
        seal={"jws": "seal", "sha256": "ab" * 32},
        seal_verified_at=at(90),
        seal_signer="cd" * 32,
        file="/tmp/out.csv",
        bytes_sent=7,
    )
    await store.run(sql.save_flow, flow)
    assert await store.read(sql.get_flow, "t1") == flow
    resumed = dataclasses.replace(flow, epoch=2, token_id="jti-2", seal=None, file=None, updated_at=at(100))
    await store.run(sql.save_flow, resumed)
    assert await store.read(sql.get_flow, "t1") == resumed
    assert await store.read(sql.get_flow, "t2") is None


async def test_bytes_sent_add_up(store):
    await store.run(sql.save_flow, Flow("t1", "provider", "push", at(0)))
    await store.run(sql.add_bytes_sent, "t1", 100)
    await store.run(sql.add_bytes_sent, "t1", 23)
    await store.run(sql.add_bytes_sent, "nothing", 5)
    assert (await store.read(sql.get_flow, "t1")).bytes_sent == 123


async def test_only_the_digest_of_a_source_s_latest_version_is_kept(store):
    first, second = KnownDigest("aa" * 32, 10, "text/csv"), KnownDigest("bb" * 32, 12, "text/csv")
    await store.run(sql.put_digest, "file:/data/w.csv", "etag-1", first, at(0))
    await store.run(sql.put_digest, "file:/data/other.csv", "etag-1", second, at(0))
    assert await store.read(sql.get_digest, "file:/data/w.csv", "etag-1") == first
    await store.run(sql.put_digest, "file:/data/w.csv", "etag-2", second, at(1))
    assert await store.read(sql.get_digest, "file:/data/w.csv", "etag-2") == second
    assert await store.read(sql.get_digest, "file:/data/w.csv", "etag-1") is None
    assert await store.read(sql.get_digest, "file:/data/other.csv", "etag-1") == second
