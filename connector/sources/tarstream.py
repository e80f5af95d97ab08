"""A deterministic, streamable tar archive (POSIX pax interchange format) laid out before it is written.

Headers are written here rather than by `tarfile` so that the bytes depend only on the folder (member names,
sizes, the owner-execute bit) and not on the Python version: the same folder always yields the same archive and
therefore the same seal. Owner, group and times are zeroed and modes reduced to 0644/0755.
Because every member's offset is known up front, the archive's size is known (Content-Length) and any byte
range of it can be produced without producing what comes before (resumable downloads of folders).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

BLOCK = 512
END_OF_ARCHIVE = 2 * BLOCK
_USTAR_NAME_MAX = 100
_USTAR_SIZE_MAX = 8**11 - 1  # what eleven octal digits can hold


@dataclass(frozen=True)
class MemberSpec:
    """One member as found in the folder: its path below the archive's top, kind, size and executability."""

    name: str  # "top/sub/file" (no trailing slash), may carry surrogate escapes of undecodable bytes
    is_dir: bool
    size: int = 0
    executable: bool = False


@dataclass(frozen=True)
class Member:
    spec: MemberSpec
    offset: int  # where its header starts
    header_size: int

    @property
    def data_offset(self) -> int:
        return self.offset + self.header_size

    @property
    def end(self) -> int:
        """Where the next member starts (after the content and its padding)."""
        return self.data_offset + padded(self.spec.size)


def padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode("ascii") + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode("ascii") + body


def _ustar_block(name: bytes, typeflag: bytes, size: int, mode: int) -> bytes:
    header = bytearray(BLOCK)
    header[0:100] = name[:100].ljust(100, b"\x00")
    header[100:108] = _octal(mode, 8)
    header[108:116] = _octal(0, 8)  # uid
    header[116:124] = _octal(0, 8)  # gid
    header[124:136] = _octal(size, 12)
    header[136:148] = _octal(0, 12)  # mtime
    header[148:156] = b" " * 8  # checksum is computed with its own field as spaces
    header[156:157] = typeflag
    header[257:263] = b"ustar\x00"
    header[263:265] = b"00"
    header[329:337] = _octal(0, 8)  # devmajor
    header[337:345] = _octal(0, 8)  # devminor
    header[148:156] = b"%06o\x00 " % sum(header)
    return bytes(header)


def member_header(spec: MemberSpec) -> bytes:
    """The header block(s) of one member: a pax extended header when the name or size does not fit ustar."""
    name = spec.name + "/" if spec.is_dir else spec.name
    raw = name.encode("utf-8", "surrogateescape")
    size = 0 if spec.is_dir else spec.size
    records = b""
    if len(raw) > _USTAR_NAME_MAX or not raw.isascii():
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            # Not valid UTF-8 on disk: carry the raw bytes and say so.
            records += _pax_record("hdrcharset", b"BINARY")
        records += _pax_record("path", raw)
    if size > _USTAR_SIZE_MAX:
        records += _pax_record("size", str(size).encode("ascii"))
    mode = 0o755 if spec.is_dir or spec.executable else 0o644
    main = _ustar_block(
        raw.decode("ascii", "replace").encode("ascii", "replace") if records else raw,
        b"5" if spec.is_dir else b"0",
        size if size <= _USTAR_SIZE_MAX else 0,
        mode,
    )
    if not records:
        return main
    pax = _ustar_block(b"././@PaxHeader", b"x", len(records), 0o644)
    return pax + records + b"\x00" * (padded(len(records)) - len(records)) + main


@dataclass(frozen=True)
class TarPlan:
    """The layout of an archive: members in order with their offsets, and the total size."""

    members: tuple[Member, ...]
    total_size: int

    @classmethod
    def of(cls, specs: Sequence[MemberSpec]) -> TarPlan:
        members = []
        offset = 0
        for spec in specs:
            member = Member(spec, offset, len(member_header(spec)))
            members.append(member)
            offset = member.end
        return cls(tuple(members), offset + END_OF_ARCHIVE)


class TarReader:
    """Produces any byte range of a planned archive. Content comes from `read_content(index, offset, n)`, which
    must return exactly n bytes of member `index`'s content starting at `offset` (or raise)."""

    def __init__(self, plan: TarPlan, read_content: Callable[[int, int, int], bytes]) -> None:
        self._plan = plan
        self._starts = [m.offset for m in plan.members]
        self._read_content = read_content
        self._cached_header: tuple[int, bytes] | None = None

    def _header(self, index: int) -> bytes:
        if self._cached_header is None or self._cached_header[0] != index:
            self._cached_header = (index, member_header(self._plan.members[index].spec))
        return self._cached_header[1]

    def read_at(self, offset: int, n: int) -> bytes:
        """Bytes [offset, offset + n) of the archive, clipped at its end."""
        stop = min(offset + n, self._plan.total_size)
        pieces: list[bytes] = []
        pos = offset
        while pos < stop:
            index = bisect.bisect_right(self._starts, pos) - 1
            member = self._plan.members[index] if index >= 0 else None
            if member is None or pos >= member.end:
                # Only the end-of-archive zero blocks lie past the last member.
                pieces.append(bytes(stop - pos))
                break
            if pos < member.data_offset:
                take = min(stop, member.data_offset) - pos
                start = pos - member.offset
                pieces.append(self._header(index)[start : start + take])
            elif pos < member.data_offset + member.spec.size:
                take = min(stop, member.data_offset + member.spec.size) - pos
                pieces.append(self._read_content(index, pos - member.data_offset, take))
            else:
                take = min(stop, member.end) - pos
                pieces.append(bytes(take))
            pos += take
        # A chunk wholly inside one file's content is handed on as read, without a copy.
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)
