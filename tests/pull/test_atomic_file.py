from __future__ import annotations

import errno
import hashlib
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.evidence.digest import Digest
from connector.evidence.seal import SealClaims, SealFacts
from connector.pull.atomic_file import (
    AtomicDownload,
    DownloadError,
    PartRecord,
    part_path,
    record_path,
    recorded_size,
)

DATA = os.urandom(300_000)
T = datetime(2025, 6, 1, tzinfo=UTC)


def _facts(data: bytes) -> SealFacts:
    """Stands in for what verify_seal returns (the seal checks themselves are tested elsewhere)."""
    claims = SealClaims(
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        media_type="application/octet-stream",
        dataset_id="d",
        agreement_id="a",
        provider_pid="p",
        consumer_pid="c",
        issuer="did:web:x",
        issued_at=T,
    )
    return SealFacts(claims, "did:web:x#k", "00" * 32, "CN=root", T)


async def _write(download: AtomicDownload, data: bytes, step: int = 65536) -> None:
    for i in range(0, len(data), step):
        await download.write(data[i : i + step])


async def test_a_download_is_published_only_by_commit_with_its_seal(tmp_path: Path) -> None:
    final = tmp_path / "sales.csv"
    download = await AtomicDownload.begin(final, "tp-1", len(DATA))
    assert download.offset == 0 and not download.resumed
    await _write(download, DATA)
    assert not final.exists()
    assert download.digest() == Digest(hashlib.sha256(DATA).hexdigest(), len(DATA))
    assert await download.commit(_facts(DATA)) == final
    assert final.read_bytes() == DATA
    assert not part_path(final).exists() and not record_path(final).exists()
    assert stat.S_IMODE(final.stat().st_mode) == 0o600
    assert download.committed


async def test_unsealed_data_is_published_only_with_the_digest_recorded_for_it(tmp_path: Path) -> None:
    final = tmp_path / "unsealed.csv"
    download = await AtomicDownload.begin(final, "tp-1", len(DATA))
    await _write(download, DATA)
    with pytest.raises(DownloadError) as caught:
        await download.commit_unsealed(Digest(hashlib.sha256(b"other").hexdigest(), len(DATA)))
    assert caught.value.code == "download.unverified" and not final.exists()
    assert await download.commit_unsealed(Digest(hashlib.sha256(DATA).hexdigest(), len(DATA))) == final
    assert final.read_bytes() == DATA


async def test_an_interrupted_download_leaves_nothing_under_the_final_name_and_resumes(tmp_path: Path) -> None:
    final = tmp_path / "sales.csv"
    with pytest.raises(ConnectionError):
        async with await AtomicDownload.begin(final, "tp-1", len(DATA)) as download:
            await _write(download, DATA[:123_456])
            raise ConnectionError("the provider went away")
    assert not final.exists()
    assert part_path(final).stat().st_size == 123_456
    assert PartRecord.from_bytes(record_path(final).read_bytes()) == PartRecord("tp-1", len(DATA), 123_456)

    resumed = await AtomicDownload.begin(final, "tp-1", len(DATA))
    assert resumed.resumed and resumed.offset == 123_456  # ask for Range: bytes=123456-
    await _write(resumed, DATA[resumed.offset :])
    assert resumed.digest() == _facts(DATA).digest  # the existing part was re-hashed
    await resumed.commit(_facts(DATA))
    assert final.read_bytes() == DATA


async def test_a_part_corrupted_between_sessions_cannot_be_committed(tmp_path: Path) -> None:
    final = tmp_path / "f"
    first = await AtomicDownload.begin(final, "tp-1")
    await _write(first, DATA[:1000])
    await first.pause()
    with open(part_path(final), "r+b") as f:
        f.seek(10)
        f.write(b"X")
    second = await AtomicDownload.begin(final, "tp-1")
    await _write(second, DATA[1000:])
    with pytest.raises(DownloadError) as caught:
        await second.commit(_facts(DATA))
    assert caught.value.code == "download.unverified"
    assert not final.exists() and part_path(final).exists()


async def test_a_seal_of_other_bytes_does_not_publish(tmp_path: Path) -> None:
    final = tmp_path / "f"
    download = await AtomicDownload.begin(final, "tp-1")
    await _write(download, DATA)
    with pytest.raises(DownloadError):
        await download.commit(_facts(DATA[:-1]))
    assert not final.exists()


async def test_a_part_of_another_transfer_is_refused_unless_replaced(tmp_path: Path) -> None:
    final = tmp_path / "f"
    other = await AtomicDownload.begin(final, "tp-other")
    await _write(other, b"foreign bytes")
    await other.pause()
    with pytest.raises(DownloadError) as caught:
        await AtomicDownload.begin(final, "tp-1")
    assert caught.value.code == "download.foreign"
    mine = await AtomicDownload.begin(final, "tp-1", replace_foreign=True)
    assert mine.offset == 0 and part_path(final).stat().st_size == 0
    await mine.discard()


async def test_a_part_without_a_readable_record_counts_as_foreign(tmp_path: Path) -> None:
    final = tmp_path / "f"
    part_path(final).write_bytes(b"who wrote this?")
    record_path(final).write_bytes(b"{broken")
    with pytest.raises(DownloadError):
        await AtomicDownload.begin(final, "tp-1")


async def test_a_part_longer_than_announced_or_of_another_announcement_starts_over(tmp_path: Path) -> None:
    final = tmp_path / "f"
    first = await AtomicDownload.begin(final, "tp-1", 100)
    await _write(first, DATA[:50])
    await first.pause()
    again = await AtomicDownload.begin(final, "tp-1", 40)
    assert again.offset == 0
    await again.pause()


async def test_more_bytes_than_announced_are_refused(tmp_path: Path) -> None:
    download = await AtomicDownload.begin(tmp_path / "f", "tp-1", 10)
    await download.write(b"12345")
    with pytest.raises(DownloadError) as caught:
        await download.write(b"678901")
    assert caught.value.code == "download.too_large"
    assert download.offset == 5
    await download.discard()


async def test_an_existing_final_file_is_kept_unless_overwriting(tmp_path: Path) -> None:
    final = tmp_path / "f"
    final.write_bytes(b"previous")
    with pytest.raises(DownloadError) as caught:
        await AtomicDownload.begin(final, "tp-1")
    assert caught.value.code == "download.exists"
    download = await AtomicDownload.begin(final, "tp-1", overwrite=True)
    await _write(download, DATA)
    await download.commit(_facts(DATA))
    assert final.read_bytes() == DATA


async def test_a_final_name_taken_meanwhile_is_not_replaced(tmp_path: Path) -> None:
    final = tmp_path / "f"
    download = await AtomicDownload.begin(final, "tp-1")
    await _write(download, DATA)
    final.write_bytes(b"someone else's")
    with pytest.raises(DownloadError) as caught:
        await download.commit(_facts(DATA))
    assert caught.value.code == "download.exists"
    assert final.read_bytes() == b"someone else's"


async def test_restart_drops_what_was_held(tmp_path: Path) -> None:
    final = tmp_path / "f"
    first = await AtomicDownload.begin(final, "tp-1")
    await _write(first, DATA[:500])
    await first.pause()
    resumed = await AtomicDownload.begin(final, "tp-1")
    assert resumed.offset == 500
    await resumed.restart()  # the provider answered 200 to the ranged request
    assert resumed.offset == 0
    await _write(resumed, DATA)
    await resumed.commit(_facts(DATA))
    assert final.read_bytes() == DATA


async def test_discard_removes_part_and_record(tmp_path: Path) -> None:
    final = tmp_path / "f"
    download = await AtomicDownload.begin(final, "tp-1")
    await _write(download, DATA[:10])
    await download.checkpoint()
    assert PartRecord.from_bytes(record_path(final).read_bytes()).received == 10
    await download.discard()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DownloadError):
        await download.write(b"more")


async def test_a_planted_symlink_as_part_file_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    part_path(tmp_path / "f").symlink_to(victim)
    with pytest.raises(DownloadError) as caught:
        await AtomicDownload.begin(tmp_path / "f", "tp-1")
    assert caught.value.code == "download.symlink"
    assert victim.read_bytes() == b"precious"


@given(st.text(min_size=1, max_size=30), st.one_of(st.none(), st.integers(0, 2**53 - 1)), st.integers(0, 2**53 - 1))
def test_part_records_round_trip(transfer_id: str, expected: int | None, received: int) -> None:
    record = PartRecord(transfer_id, expected, received)
    assert PartRecord.from_bytes(record.to_bytes()) == record


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b'{"version": 2}',
        b'{"version": 1, "transferId": "", "received": 0}',
        b'{"version": 1, "transferId": "t", "received": -1}',
        b'{"version": 1, "transferId": "t", "received": true}',
        b'{"version": 1, "transferId": "t", "received": 1, "expectedSize": "9"}',
    ],
)
def test_broken_part_records_are_refused(data: bytes) -> None:
    with pytest.raises(DownloadError):
        PartRecord.from_bytes(data)


async def test_the_size_a_provider_states_is_recorded_for_a_later_run(tmp_path: Path) -> None:
    final = tmp_path / "stated.bin"
    download = await AtomicDownload.begin(final, "tp-1")
    await download.expect(len(DATA))
    await _write(download, DATA[:1000])
    await download.pause()
    assert recorded_size(final, "tp-1") == len(DATA)
    assert recorded_size(final, "tp-other") is None  # not this transfer's part
    resumed = await AtomicDownload.begin(final, "tp-1")  # the record now says: size unknown
    assert resumed.offset == 1000 and recorded_size(final, "tp-1") is None
    await resumed.expect(len(DATA))
    with pytest.raises(DownloadError) as caught:
        await resumed.write(DATA[1000:] + b"x")
    assert caught.value.code == "download.too_large"
    await resumed.discard()
    assert recorded_size(final, "tp-1") is None


class _FillsUp:
    """The device of the part file, as the OS reports it: `room` more bytes fit, then every write is refused with
    `error` (after writing what fits, as a real file system does)."""

    def __init__(self, room: int, error: int = errno.ENOSPC) -> None:
        self.room, self.error = room, error
        self.pwrite, self.pwritev = os.pwrite, os.pwritev

    def _take(self, wanted: int) -> int:
        if self.room <= 0:
            raise OSError(self.error, os.strerror(self.error))
        n = min(wanted, self.room)
        self.room -= n
        return n

    def write_one(self, fd: int, data: Any, offset: int) -> int:
        return self.pwrite(fd, memoryview(data)[: self._take(memoryview(data).nbytes)], offset)

    def write_many(self, fd: int, views: list[Any], offset: int) -> int:
        return self.write_one(fd, b"".join(bytes(v) for v in views), offset)


@pytest.mark.parametrize(("error", "code"), [(errno.ENOSPC, "download.no_space"), (errno.EIO, "download.io")])
async def test_a_device_that_refuses_writes_stops_the_download_with_its_reason_and_it_resumes_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: int, code: str
) -> None:
    final = tmp_path / "sales.csv"
    device = _FillsUp(100_000, error)
    monkeypatch.setattr(os, "pwrite", device.write_one)
    monkeypatch.setattr(os, "pwritev", device.write_many)
    with pytest.raises(DownloadError) as caught:
        async with await AtomicDownload.begin(final, "tp-1", len(DATA)) as download:
            await _write(download, DATA[:65536])
            await download.write_many([DATA[65536:131072], DATA[131072:196608]])
    assert caught.value.code == code and caught.value.where == str(part_path(final))
    assert "'sales.csv.part'" in caught.value.reason and "continues from there" in caught.value.reason
    assert not final.exists()
    assert part_path(final).read_bytes() == DATA[:100_000]  # what fitted, a write cut short included

    device.room = len(DATA)  # room again: the same download continues from what the part holds
    resumed = await AtomicDownload.begin(final, "tp-1", len(DATA))
    assert resumed.resumed and resumed.offset == 100_000
    await resumed.write_many([DATA[resumed.offset :]])
    await resumed.commit(_facts(DATA))
    assert final.read_bytes() == DATA
