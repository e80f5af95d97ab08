"""Writing an evidence archive's files: an archive file is never replaced by other bytes, the same bytes are the
same archive (an attempt that ended before the store recorded it), and a failed write leaves nothing of itself."""

from __future__ import annotations

import pytest

from connector.errors import ConnectorError
from connector.evidence.edge.archive import SIGNATURE_SUFFIX, write

NAME = "evidence-000000000001-000000000009.json.gz"


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_the_files_are_created_and_the_same_archive_again_gets_its_new_manifest(tmp_path):
    folder = tmp_path / "evidence-archives"
    assert write(folder, NAME, b"segment", "manifest-1") == [folder / NAME, folder / (NAME + SIGNATURE_SUFFIX)]
    assert write(folder, NAME, b"segment", "manifest-2") == []  # created nothing: the archive was there
    assert _files(folder) == {NAME: b"segment", NAME + SIGNATURE_SUFFIX: b"manifest-2"}


def test_another_archive_under_the_name_is_kept_and_refused(tmp_path):
    folder = tmp_path / "evidence-archives"
    write(folder, NAME, b"one history", "manifest-1")
    with pytest.raises(ConnectorError) as refused:
        write(folder, NAME, b"another history", "manifest-2")
    assert refused.value.code == "evidence.archive_conflict" and refused.value.where == str(folder / NAME)
    assert _files(folder) == {NAME: b"one history", NAME + SIGNATURE_SUFFIX: b"manifest-1"}

    # A manifest without its file: the file written for it goes again, the manifest stays as it was.
    (folder / NAME).unlink()
    with pytest.raises(ConnectorError) as refused:
        write(folder, NAME, b"another history", "manifest-2")
    assert refused.value.where == str(folder / (NAME + SIGNATURE_SUFFIX))
    assert _files(folder) == {NAME + SIGNATURE_SUFFIX: b"manifest-1"}


def test_a_folder_that_cannot_take_the_files_is_said_and_nothing_is_left(tmp_path):
    folder = tmp_path / "evidence-archives"
    folder.write_bytes(b"a file where the folder goes")
    with pytest.raises(ConnectorError) as refused:
        write(folder, NAME, b"segment", "manifest")
    assert refused.value.code == "evidence.archive_unwritable" and str(folder) in refused.value.reason
    assert "it is a file, not a folder" in refused.value.reason
    assert folder.read_bytes() == b"a file where the folder goes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence-archives"]  # no temporary file either
