"""An archive handed over for `connector import` is read before anything in it is trusted: a small ZIP file that
inflates to gigabytes, a manifest nested past any parser, or an entry the ZIP layer cannot read is refused as
archive.malformed naming the file, in bounded memory, before its signature is even looked at."""

from __future__ import annotations

import struct
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from connector.archive.format import MANIFEST, SIGNATURE
from connector.archive.restore import open_archive
from connector.errors import ConnectorError

INFLATED = 300_000_000  # from a ZIP file of a few hundred kilobytes


def _bomb(path: Path, name: str) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(name, "w") as entry:
            for _ in range(INFLATED // 1_000_000):
                entry.write(b" " * 1_000_000)
        for other in {MANIFEST, SIGNATURE} - {name}:
            archive.writestr(other, b"{}")
    assert path.stat().st_size < 1_000_000
    return path


def _declaring(path: Path, name: str, size: int) -> Path:
    """`path` with the size its central directory declares for `name` changed to `size`."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while data[at + 46 : at + 46 + len(name)] != name.encode():
        at = data.find(b"PK\x01\x02", at + 4)
    data[at + 24 : at + 28] = struct.pack("<I", size)
    path.write_bytes(bytes(data))
    return path


def _refused(path: Path) -> tuple[ConnectorError, int]:
    """The refusal of `path`, and the most memory taken while reading it."""
    tracemalloc.start()
    try:
        with pytest.raises(ConnectorError) as refused, open_archive(path, []):
            pass
        return refused.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", [MANIFEST, SIGNATURE])
def test_a_manifest_that_inflates_to_hundreds_of_megabytes_is_refused_unread(tmp_path, name):
    error, peak = _refused(_bomb(tmp_path / "bomb.zip", name))
    assert error.code == "archive.malformed" and name in error.reason and error.where == name
    assert peak < 20_000_000, peak


def test_a_manifest_that_declares_a_small_size_is_still_read_only_so_far(tmp_path):
    error, peak = _refused(_declaring(_bomb(tmp_path / "bomb.zip", MANIFEST), MANIFEST, 100))
    assert error.code == "archive.malformed" and MANIFEST in error.reason
    assert peak < 20_000_000, peak


def test_a_manifest_nested_past_the_parser_is_not_json(tmp_path):
    path = tmp_path / "deep.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(MANIFEST, b"[" * 100_000)
        archive.writestr(SIGNATURE, b"x")
    error, _ = _refused(path)
    assert error.code == "archive.malformed" and error.reason == "the manifest is not JSON"


def _broken(path: Path, how: str) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, b'{"type":"ConnectorArchive"}' * 200)
        archive.writestr(SIGNATURE, b"x")
    data = bytearray(path.read_bytes())
    local, central = 0, data.find(b"PK\x01\x02")
    body = local + 30 + len(MANIFEST)
    if how == "deflate":
        data[body : body + 8] = b"\xff" * 8
    elif how == "crc":
        data[central + 16 : central + 20] = data[local + 14 : local + 18] = b"\0\0\0\0"
    elif how == "encrypted":
        data[central + 8] |= 1
    else:
        data[central + 10] = 99  # no compression method of ZIP
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("how", ["deflate", "crc", "encrypted", "method"])
def test_an_entry_the_zip_layer_cannot_read_is_named(tmp_path, how):
    error, _ = _refused(_broken(tmp_path / "broken.zip", how))
    assert error.code == "archive.malformed" and error.reason.startswith(f"{MANIFEST} cannot be read"), error.reason
