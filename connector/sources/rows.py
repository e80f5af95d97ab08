"""Query rows as bytes on the wire: CSV with a header row (RFC 4180), or JSON lines (one object per row).

SQLite values map as follows. CSV: NULL is an empty field (CSV cannot tell it from an empty string; use JSON
lines when that matters), integers and reals in their shortest round-tripping form, BLOBs as standard base64.
JSON lines: NULL is null, BLOBs are base64 strings, infinite reals (SQLite has no NaN) the strings "Infinity" and
"-Infinity" because JSON has no such numbers; text is UTF-8 unescaped.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any, Protocol

from connector.sources.base import SourceError

CSV_MEDIA_TYPE = "text/csv; charset=utf-8; header=present"
JSONL_MEDIA_TYPE = "application/jsonl"


class RowEncoder(Protocol):
    media_type: str

    def header(self) -> bytes: ...

    def encode_rows(self, rows: Sequence[Sequence[Any]]) -> bytes: ...


def _blob(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


class CsvRows:
    media_type = CSV_MEDIA_TYPE

    def __init__(self, columns: Sequence[str]) -> None:
        self._columns = list(columns)
        self._buffer = io.StringIO()
        # csv already writes None as an empty field and floats by repr; only BLOBs need converting.
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def _text(self, rows: Sequence[Sequence[Any]]) -> bytes:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows(rows)
        return self._buffer.getvalue().encode("utf-8")

    def header(self) -> bytes:
        return self._text([self._columns])

    def encode_rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        return self._text([_csv_row(row) for row in rows])


def _csv_row(row: Sequence[Any]) -> Sequence[Any]:
    if any(type(v) is bytes for v in row):
        return [_blob(v) if type(v) is bytes else v for v in row]
    return row


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return _blob(value)
    raise TypeError(f"{type(value).__name__} is not a SQLite value")


class JsonLinesRows:
    media_type = JSONL_MEDIA_TYPE

    def __init__(self, columns: Sequence[str]) -> None:
        seen: set[str] = set()
        for name in columns:
            if name in seen:
                # An object cannot hold the same key twice; silently dropping a column would be worse.
                raise SourceError(
                    "source.sql.duplicate_column",
                    f"the query returns two columns named '{name}'; give them distinct names with AS",
                    "query",
                )
            seen.add(name)
        self._columns = list(columns)
        self._encoder = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default
        )

    def header(self) -> bytes:
        return b""

    def _line(self, row: Sequence[Any]) -> str:
        try:
            return self._encoder.encode(dict(zip(self._columns, row)))
        except ValueError:
            # Only an infinite real gets here (SQLite has no NaN); take the slow road for this row.
            return self._encoder.encode({k: _finite(v) for k, v in zip(self._columns, row)})

    def encode_rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        if not rows:
            return b""
        return ("\n".join(self._line(row) for row in rows) + "\n").encode("utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "Infinity" if value > 0 else "-Infinity" if value < 0 else None
    return value


FORMATS: dict[str, type[CsvRows] | type[JsonLinesRows]] = {"csv": CsvRows, "jsonl": JsonLinesRows}


def encoder_for(fmt: str, columns: Sequence[str]) -> RowEncoder:
    return FORMATS[fmt](columns)
