"""Reading the files inside an archive someone handed over, before anything in it is trusted: each read bounded
(a small ZIP file may inflate to gigabytes), and whatever the ZIP layer finds wrong (a bad CRC, deflate data
that does not inflate, an encrypted or unsupported entry) a ConnectorError("archive.malformed") naming the file.

What a ZIP entry declares of its size is only its writer's claim: `zipfile` cuts what it inflates there, but
only after inflating all it was asked for, so entries are read a bounded piece at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import zipfile
import zlib
from collections.abc import Iterator

from connector.errors import ConnectorError

CHUNK = 1024 * 1024
# The manifest and its signature are a few kilobytes: a thousand times that is no archive this program wrote.
MAX_MANIFEST = 4 * 1024 * 1024


@contextlib.contextmanager
def reading(name: str) -> Iterator[None]:
    """What goes wrong in the ZIP layer while `name` is read, as archive.malformed."""
    try:
        yield
    except RecursionError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, OSError) as exc:
        raise ConnectorError("archive.malformed", f"{name} cannot be read from the archive ({exc})", name) from None


def read_small(archive: zipfile.ZipFile, name: str, most: int = MAX_MANIFEST) -> bytes:
    """The whole of `name`, refused when it holds more than `most` bytes (by what it declares, and by what it
    inflates to: a ZIP entry's size is only what its writer claims)."""
    size = archive.getinfo(name).file_size
    if size <= most:
        with reading(name), archive.open(name) as stream:
            data = stream.read(most + 1)  # `read()` would inflate the whole entry at once, whatever it declares
        if len(data) <= most:
            return data
    raise ConnectorError("archive.malformed", f"{name} holds more than the {most} bytes it can hold", name)


def sha256_of(archive: zipfile.ZipFile, name: str) -> str:
    """The SHA-256 of `name`, read a chunk at a time."""
    digest = hashlib.sha256()
    with reading(name), archive.open(name) as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
