from __future__ import annotations

import io
import tarfile

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.sources.tarstream import BLOCK, END_OF_ARCHIVE, MemberSpec, TarPlan, TarReader, member_header

_name_part = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=70
).filter(lambda s: s not in (".", ".."))


def _content(index: int, size: int) -> bytes:
    return bytes((index * 7 + i) % 251 for i in range(size))


def _archive(specs: list[MemberSpec]) -> tuple[TarPlan, bytes]:
    plan = TarPlan.of(specs)
    reader = TarReader(plan, lambda i, off, n: _content(i, specs[i].size)[off : off + n])
    return plan, reader.read_at(0, plan.total_size)


def _tree(names: list[str], sizes: list[int]) -> list[MemberSpec]:
    specs = [MemberSpec("top", is_dir=True)]
    for i, (name, size) in enumerate(zip(names, sizes)):
        specs.append(MemberSpec(f"top/{i}-{name}", is_dir=False, size=size, executable=bool(i % 2)))
    return specs


@settings(max_examples=60, deadline=None)
@given(st.lists(_name_part, max_size=5), st.lists(st.integers(0, 1500), min_size=5, max_size=5))
def test_stdlib_tarfile_reads_back_names_sizes_modes_and_contents(names: list[str], sizes: list[int]) -> None:
    specs = _tree(names, sizes)
    plan, data = _archive(specs)
    assert len(data) == plan.total_size
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        members = archive.getmembers()
        assert [m.name for m in members] == [s.name for s in specs]
        for index, (member, spec) in enumerate(zip(members, specs)):
            assert member.isdir() == spec.is_dir
            assert member.mtime == 0 and member.uid == 0 and member.gid == 0 and member.uname == ""
            if spec.is_dir:
                assert member.mode == 0o755
            else:
                assert member.mode == (0o755 if spec.executable else 0o644)
                extracted = archive.extractfile(member)
                assert extracted is not None
                assert extracted.read() == _content(index, spec.size)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(0, 2000), min_size=1, max_size=4),
    st.data(),
)
def test_any_byte_range_equals_the_same_slice_of_the_whole_archive(sizes: list[int], data: st.DataObject) -> None:
    specs = _tree(["f"] * len(sizes), sizes)
    plan, whole = _archive(specs)
    reader = TarReader(plan, lambda i, off, n: _content(i, specs[i].size)[off : off + n])
    offset = data.draw(st.integers(0, plan.total_size - 1))
    n = data.draw(st.integers(1, plan.total_size))
    assert reader.read_at(offset, n) == whole[offset : offset + n]


def test_the_archive_ends_with_two_zero_blocks_and_is_block_aligned() -> None:
    plan, data = _archive(_tree(["a"], [3]))
    assert data.endswith(bytes(END_OF_ARCHIVE))
    assert len(data) % BLOCK == 0


def test_names_that_do_not_fit_ustar_use_a_pax_path_record() -> None:
    long = "top/" + "d" * 150 + "/file"
    header = member_header(MemberSpec(long, is_dir=False, size=0))
    assert b"path=" + long.encode() in header
    info = tarfile.TarInfo.frombuf(header[:BLOCK], "utf-8", "surrogateescape")
    assert info.type == tarfile.XHDTYPE


def test_undecodable_file_names_are_carried_as_raw_bytes() -> None:
    name = "top/caf" + b"\xe9".decode("utf-8", "surrogateescape")
    plan, data = _archive([MemberSpec("top", is_dir=True), MemberSpec(name, is_dir=False, size=2)])
    assert b"hdrcharset=BINARY" in data and b"path=top/caf\xe9" in data
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:", encoding="utf-8", errors="surrogateescape") as archive:
        assert archive.getnames()[1] == name


def test_sizes_beyond_ustar_go_into_a_pax_size_record() -> None:
    size = 20 * 1024**3
    header = member_header(MemberSpec("top/big", is_dir=False, size=size))
    assert f"size={size}".encode() in header
    archive_start = header + bytes(BLOCK)  # a first data block, enough for tarfile to parse the header
    with tarfile.open(fileobj=io.BytesIO(archive_start), mode="r|") as archive:
        member = archive.next()
        assert member is not None and member.size == size


def test_the_same_members_always_give_the_same_bytes() -> None:
    specs = _tree(["x", "ü" * 80], [10, 600])
    assert _archive(specs)[1] == _archive(list(specs))[1]
