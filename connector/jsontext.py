"""JSON texts read from others (peers, providers, authorities, files): `loads` is `json.loads` for which every
text that does not give a value is a ValueError, a nesting deeper than the parser's own bound included (it raises
RecursionError there, which callers reading what others wrote would otherwise have to name each time)."""

from __future__ import annotations

import json
from typing import Any


def loads(data: str | bytes | bytearray) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("the JSON text nests deeper than it can be read") from None
