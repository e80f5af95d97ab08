from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from connector.evidence.digest import HashingStream
from connector.sources import CHUNK_SIZE, SourceContext, SourceError, build_source, validate_source_config
from connector.sources.file import FileSource, guess_media_type
from connector.web.ranges import ByteRange, RangeNotSatisfiable


def _source(context: SourceContext, path: str, **extra: object) -> FileSource:
    source = build_source({"type": "file", "path": path, **extra}, context)
    assert isinstance(source, FileSource)
    return source


async def _read(source: FileSource, byte_range: ByteRange | None = None) -> bytes:
    stream = await source.open(byte_range)
    return await stream.read_all()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# --- files -----------------------------------------------------------------------------------------------------


async def test_a_file_streams_byte_for_byte_in_full_chunks(data_root: Path, context: SourceContext) -> None:
    content = os.urandom(3 * CHUNK_SIZE + 12345)
    (data_root / "reports").mkdir()
    (data_root / "reports" / "2024.csv").write_bytes(content)
    stream = await _source(context, "reports/2024.csv").open()
    chunks = [chunk async for chunk in stream]
    await stream.aclose()
    assert b"".join(chunks) == content
    assert [len(c) for c in chunks] == [CHUNK_SIZE] * 3 + [12345]
    assert stream.info.size == stream.info.total_size == len(content)
    assert stream.info.media_type == "text/csv"
    assert stream.info.name == "2024.csv"
    assert stream.info.range is None
    assert stream.info.etag


async def test_the_configured_media_type_wins_over_the_guess(data_root: Path, context: SourceContext) -> None:
    (data_root / "blob.bin").write_bytes(b"{}")
    stream = await _source(context, "blob.bin", mediaType="application/json").open()
    await stream.aclose()
    assert stream.info.media_type == "application/json"


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("a.csv", "text/csv"),
        ("a.jsonl", "application/jsonl"),
        ("a.csv.gz", "application/gzip"),
        ("README", "application/octet-stream"),
    ],
)
def test_media_types_are_guessed_from_the_name_alone(name: str, media_type: str) -> None:
    assert guess_media_type(name) == media_type


async def test_an_empty_file_streams_nothing(data_root: Path, context: SourceContext) -> None:
    (data_root / "empty").write_bytes(b"")
    stream = await _source(context, "empty").open()
    assert await stream.read_all() == b""
    assert stream.info.size == 0


@pytest.mark.parametrize(
    ("start", "stop"),
    [(0, 1), (0, None), (5, None), (CHUNK_SIZE - 1, CHUNK_SIZE + 1), (CHUNK_SIZE, None), (500000, 10**9)],
)
async def test_a_byte_range_of_a_file_is_exactly_that_slice(
    data_root: Path, context: SourceContext, start: int, stop: int | None
) -> None:
    content = os.urandom(2 * CHUNK_SIZE + 100)
    (data_root / "f").write_bytes(content)
    stream = await _source(context, "f").open(ByteRange(start, stop))
    got = await stream.read_all()
    assert got == content[start:stop]
    assert stream.info.size == len(got)
    assert stream.info.total_size == len(content)
    assert stream.info.range == ByteRange(start, min(stop or len(content), len(content)))


async def test_a_range_past_the_end_of_a_file_is_refused_and_releases_the_file(
    data_root: Path, context: SourceContext
) -> None:
    (data_root / "f").write_bytes(b"12345")
    before = _open_fds()
    with pytest.raises(RangeNotSatisfiable):
        await _source(context, "f").open(ByteRange(5))
    assert _open_fds() == before


async def test_closing_a_stream_half_way_releases_the_file(data_root: Path, context: SourceContext) -> None:
    (data_root / "f").write_bytes(os.urandom(4 * CHUNK_SIZE))
    before = _open_fds()
    stream = await _source(context, "f").open()
    await stream.__anext__()
    assert _open_fds() > before
    await stream.aclose()
    assert _open_fds() == before


async def test_a_file_that_shrinks_while_sent_is_reported_changed(data_root: Path, context: SourceContext) -> None:
    path = data_root / "f"
    path.write_bytes(os.urandom(3 * CHUNK_SIZE))
    stream = await _source(context, "f").open()
    await stream.__anext__()
    os.truncate(path, CHUNK_SIZE + 10)
    with pytest.raises(SourceError) as caught:
        async for _ in stream:
            pass
    await stream.aclose()
    assert caught.value.code == "source.file.changed"


async def test_memory_stays_flat_while_streaming_and_hashing_64_mib(data_root: Path, context: SourceContext) -> None:
    path = data_root / "big"
    with open(path, "wb") as f:
        f.truncate(64 * 1024 * 1024)  # sparse: reads cost no disk, the data path is what is measured
        f.seek(12345)
        f.write(b"marker")
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        stream = await _source(context, "big").open()
        hashing = HashingStream(stream)
        async with stream:
            async for _ in hashing:
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert hashing.digest().size == 64 * 1024 * 1024
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes"


# --- folders -----------------------------------------------------------------------------------------------------


def _make_folder(base: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha\n",
        "sub/b.bin": os.urandom(CHUNK_SIZE + 777),
        "sub/deeper/c": b"",
        "z\u00fcrich.csv": b"x,y\n1,2\n",
        "run.sh": b"#!/bin/sh\n",
    }
    for rel, data in files.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(data)
    (base / "run.sh").chmod(0o750)
    (base / "empty-dir").mkdir()
    return files


async def test_a_folder_streams_as_a_tar_with_its_contents(data_root: Path, context: SourceContext) -> None:
    files = _make_folder(data_root / "export")
    stream = await _source(context, "export").open()
    data = await stream.read_all()
    assert stream.info.media_type == "application/x-tar"
    assert stream.info.name == "export.tar"
    assert stream.info.size == len(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        names = archive.getnames()
        assert set(names) == {"export", "export/empty-dir", "export/sub", "export/sub/deeper"} | {
            f"export/{rel}" for rel in files
        }
        for rel, content in files.items():
            member = archive.extractfile(f"export/{rel}")
            assert member is not None and member.read() == content
        assert archive.getmember("export/run.sh").mode == 0o755
        assert archive.getmember("export/a.txt").mode == 0o644


async def test_the_same_folder_gives_the_same_bytes_wherever_and_whenever(
    data_root: Path, context: SourceContext, tmp_path: Path
) -> None:
    _make_folder(data_root / "export")
    first = await _read(_source(context, "export"))
    copy_root = tmp_path / "elsewhere"
    copy_root.mkdir()
    shutil.copytree(data_root / "export", copy_root / "export")  # new inodes and times
    os.utime(copy_root / "export" / "a.txt", (1, 1))
    other = SourceContext(file_roots={"default": copy_root})
    assert await _read(_source(other, "export")) == first


async def test_member_order_is_by_name_bytes_with_folders_before_their_contents(
    data_root: Path, context: SourceContext
) -> None:
    folder = data_root / "f"
    for rel in ("b/x", "a", "B", "b.txt", "a0/y"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(b"1")
    data = await _read(_source(context, "f"))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        assert archive.getnames() == ["f", "f/B", "f/a", "f/a0", "f/a0/y", "f/b", "f/b/x", "f/b.txt"]


async def test_a_byte_range_of_a_folder_is_that_slice_of_its_tar(data_root: Path, context: SourceContext) -> None:
    _make_folder(data_root / "export")
    whole = await _read(_source(context, "export"))
    for start, stop in [(0, 100), (511, 2000), (1500, None), (len(whole) - 1, None)]:
        assert await _read(_source(context, "export"), ByteRange(start, stop)) == whole[start:stop]


async def test_a_folder_member_changed_after_listing_is_reported(data_root: Path, context: SourceContext) -> None:
    _make_folder(data_root / "export")
    stream = await _source(context, "export").open()
    (data_root / "export" / "sub" / "b.bin").write_bytes(b"short now")
    with pytest.raises(SourceError) as caught:
        async for _ in stream:
            pass
    await stream.aclose()
    assert caught.value.code == "source.file.changed"
    assert "export/sub/b.bin" in caught.value.reason


# --- what may not be reached ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["../secret", "a/../../secret", "a/..", "/etc/passwd", "", "a//b", "./a", "a/./b", "a\\..\\b", "a\x00b", "x/"],
)
def test_paths_that_could_leave_the_root_are_refused_up_front(path: str, context: SourceContext) -> None:
    problems = validate_source_config({"type": "file", "path": path})
    assert problems and problems[0].where == "path"
    with pytest.raises(SourceError):
        build_source({"type": "file", "path": path}, context)


async def test_a_symlink_to_a_file_outside_the_root_is_refused(
    data_root: Path, context: SourceContext, tmp_path: Path
) -> None:
    (tmp_path / "secret").write_bytes(b"do not send")
    (data_root / "leak").symlink_to(tmp_path / "secret")
    with pytest.raises(SourceError) as caught:
        await _source(context, "leak").open()
    assert caught.value.code == "source.file.symlink"
    assert "leak" in caught.value.reason and str(tmp_path) not in caught.value.reason


async def test_a_symlink_inside_the_root_pointing_inside_is_refused_too(
    data_root: Path, context: SourceContext
) -> None:
    # A link's target is resolved when it is used, so "inside" today can be re-pointed outside tomorrow by
    # anyone able to write in the data folder; and the bytes sent must be those of the path agreed on.
    (data_root / "real.csv").write_bytes(b"a,b\n")
    (data_root / "alias.csv").symlink_to("real.csv")
    with pytest.raises(SourceError) as caught:
        await _source(context, "alias.csv").open()
    assert caught.value.code == "source.file.symlink"


async def test_a_symlinked_parent_folder_is_refused(data_root: Path, context: SourceContext, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.csv").write_bytes(b"secret")
    (data_root / "linked").symlink_to(outside, target_is_directory=True)
    (data_root / "inner").mkdir()
    (data_root / "inner" / "hop").symlink_to(data_root / "inner", target_is_directory=True)
    for path in ("linked/f.csv", "linked", "inner/hop/hop"):
        with pytest.raises(SourceError) as caught:
            await _source(context, path).open()
        assert caught.value.code == "source.file.symlink", path


async def test_a_folder_containing_a_symlink_is_refused(
    data_root: Path, context: SourceContext, tmp_path: Path
) -> None:
    (data_root / "export").mkdir()
    (data_root / "export" / "ok.txt").write_bytes(b"1")
    (data_root / "export" / "nested").mkdir()
    (data_root / "export" / "nested" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(SourceError) as caught:
        await _source(context, "export").open()
    assert caught.value.code == "source.file.symlink"
    assert "export/nested/passwd" in caught.value.reason


async def test_special_files_are_refused_without_blocking(data_root: Path, context: SourceContext) -> None:
    os.mkfifo(data_root / "pipe")
    with pytest.raises(SourceError) as caught:
        await _source(context, "pipe").open()
    assert caught.value.code == "source.file.not_regular"
    (data_root / "export").mkdir()
    os.mkfifo(data_root / "export" / "pipe")
    with pytest.raises(SourceError) as caught:
        await _source(context, "export").open()
    assert caught.value.code == "source.file.not_regular"


async def test_missing_paths_and_file_parents_are_not_found(data_root: Path, context: SourceContext) -> None:
    (data_root / "file").write_bytes(b"1")
    for path in ("nothing", "file/below", "nothing/below"):
        with pytest.raises(SourceError) as caught:
            await _source(context, path).open()
        assert caught.value.code == "source.file.not_found", path


def test_an_unknown_root_name_is_refused_at_build(context: SourceContext) -> None:
    with pytest.raises(SourceError) as caught:
        build_source({"type": "file", "path": "a", "root": "archive"}, context)
    assert caught.value.code == "source.file.no_root"
    assert caught.value.where == "root"


async def test_a_root_that_is_itself_a_link_is_operator_configuration_and_allowed(tmp_path: Path) -> None:
    real = tmp_path / "real-root"
    real.mkdir()
    (real / "f").write_bytes(b"ok")
    (tmp_path / "root-link").symlink_to(real, target_is_directory=True)
    source = _source(SourceContext(file_roots={"default": tmp_path / "root-link"}), "f")
    assert await _read(source) == b"ok"


async def test_file_content_hash_matches_the_digest_of_the_stream(data_root: Path, context: SourceContext) -> None:
    content = os.urandom(CHUNK_SIZE * 2 + 1)
    (data_root / "f").write_bytes(content)
    stream = await _source(context, "f").open()
    hashing = HashingStream(stream)
    async with stream:
        async for _ in hashing:
            pass
    assert hashing.digest().sha256 == hashlib.sha256(content).hexdigest()


# --- read buffers used again -----------------------------------------------------------------------------------


def test_a_read_buffer_is_handed_out_again_only_once_nobody_holds_it() -> None:
    from connector.sources.file import _Recycled

    pool = _Recycled(keep=2)
    first = pool.take(16)
    first_id = id(first)
    first[:] = b"x" * 16
    held = pool.take(16)  # `first` is still held here
    assert held is not first
    view = memoryview(held)
    del first
    again = pool.take(16)
    assert id(again) == first_id  # let go: taken again
    assert pool.take(16) is not held  # a memoryview still reads `held`
    view.release()
    assert pool.take(8) is not again and len(pool.take(8)) == 8  # other sizes are fresh buffers


async def test_a_consumer_that_keeps_every_chunk_sees_each_as_read(data_root: Path, context: SourceContext) -> None:
    content = os.urandom(12 * CHUNK_SIZE + 7)
    (data_root / "kept.bin").write_bytes(content)
    (data_root / "kept.bin").read_bytes()  # in the page cache: read on the event loop, into recycled buffers
    stream = await _source(context, "kept.bin").open()
    kept = [chunk async for chunk in stream]
    views = []
    stream = await _source(context, "kept.bin").open()
    async for chunk in stream:
        views.append(memoryview(chunk))
    assert b"".join(kept) == content
    assert b"".join(bytes(v) for v in views) == content
