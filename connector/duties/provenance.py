"""Provenance: from an asset's source to the data the node received under an agreement.

An asset offers data received under "no onward transfer" when its file (or SQLite database) is such data, when
its folder holds some, or - checked when the asset is created, since it takes reading the file - when its file
has the very bytes of such data (a copy). Paths are compared resolved (symbolic links followed), as the data
plane itself would open them below the asset's root.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from connector.records.duties import ReceivedData

DEFAULT_ROOT = "default"
_PATH_FIELDS = {"file": "path", "sql": "database"}  # source type -> the field naming its file below a root


def source_path(source: Mapping[str, Any], roots: Mapping[str, Path]) -> Path | None:
    """The resolved path an asset's source reads (None for sources that read no local file)."""
    field = _PATH_FIELDS.get(str(source.get("type")))
    relative = source.get(field) if field else None
    root = roots.get(str(source.get("root", DEFAULT_ROOT)))
    if not isinstance(relative, str) or not relative or root is None:
        return None
    return Path(os.path.realpath(Path(root) / relative))


def overlapping(path: Path, kept: Sequence[ReceivedData]) -> ReceivedData | None:
    """The first data received that `path` is, or holds (a folder), by location."""
    for received in kept:
        if received.file is None:
            continue
        where = Path(received.file)
        if where == path or path in where.parents:
            return received
    return None


def refusal(asset_id: str, received: ReceivedData, how: str) -> str:
    return (
        f"asset '{asset_id}' would offer {how} data received under agreement {received.agreement_id} from "
        f"{received.provider_id} (transfer {received.transfer_id}), whose agreement prohibits distributing it "
        "(no onward transfer)"
    )
