from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.evidence.digest import Digest, HashingStream, RunningDigest, digest_chunks


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_hashing_stream_passes_the_same_chunk_objects_and_digests_them() -> None:
    parts = [b"abc", b"", b"x" * 1000]
    stream = HashingStream(_chunks(parts))
    seen = [chunk async for chunk in stream]
    assert all(a is b for a, b in zip(seen, parts))
    assert stream.digest() == Digest(hashlib.sha256(b"".join(parts)).hexdigest(), 1003)


async def test_a_digest_of_an_unfinished_stream_is_refused() -> None:
    stream = HashingStream(_chunks([b"a", b"b"]))
    await stream.__anext__()
    assert stream.size == 1
    with pytest.raises(RuntimeError):
        stream.digest()


async def test_digest_chunks_reads_to_the_end() -> None:
    assert await digest_chunks(_chunks([b"he", b"llo"])) == Digest(hashlib.sha256(b"hello").hexdigest(), 5)


@given(st.lists(st.binary(max_size=64), max_size=10))
def test_running_digest_equals_one_shot_sha256_whatever_the_split(parts: list[bytes]) -> None:
    running = RunningDigest()
    for i, part in enumerate(parts):
        running.update(memoryview(part) if i % 2 else part)
    whole = b"".join(parts)
    assert running.digest() == Digest(hashlib.sha256(whole).hexdigest(), len(whole))
