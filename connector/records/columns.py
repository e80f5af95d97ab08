"""How record fields are written to columns: times as ISO 8601 text in UTC, structured values as JSON text.

Every record of the node uses these, so that all tables read alike (and a row can be read without its record).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, overload


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is not UTC:  # most times here are UTC already; converting would only copy them
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")


@overload
def parse_iso(text: str) -> datetime: ...


@overload
def parse_iso(text: str | None) -> datetime | None: ...


def parse_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def json_column(value: Any) -> str | None:
    """A JSON value as stored in a TEXT column (None stays NULL)."""
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


def from_json_column(text: str | None) -> Any:
    return None if text is None else json.loads(text)
