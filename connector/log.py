"""Structured logging: human text or JSON lines, every line carrying the request id it belongs to.

Secrets never reach the log: known secret fields are replaced before formatting, and the code logs ids and
hashes of tokens, never tokens.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import TextIO

# LogRecord's exc_info: what sys.exc_info() returns.
_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_SECRET_FIELDS = {"api_key", "authorization", "token", "password", "secret", "private_key", "access_token"}
# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in vars(record).items():
        if key in _STANDARD or key.startswith("_"):
            continue
        out[key] = "[redacted]" if key.lower() in _SECRET_FIELDS else value
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def local_timestamp(created: float) -> str:
    """ISO 8601 local time with milliseconds and the UTC offset (2025-03-01T14:02:07.318+01:00): a line read
    next to another machine's log, or after a change of daylight-saving time, still says when it happened."""
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = local_timestamp(record.created)
        rid = request_id.get()
        extras = _extras(record)
        # A field without a value says nothing to a reader (`peer=None`); JSON lines keep it as null.
        tail = " ".join(f"{k}={v}" for k, v in extras.items() if v is not None)
        parts = [
            stamp,
            f"{record.levelname.lower():7}",
            record.name.removeprefix("connector."),
            f"[{rid}]" if rid else "",
            record.getMessage(),
            tail,
        ]
        line = " ".join(p for p in parts if p)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _SafeExtras(logging.Logger):
    """A logger whose `extra` keys never crash a caller by clashing with LogRecord's own attributes."""

    def makeRecord(
        self,
        name: str,
        level: int,
        fn: str,
        lno: int,
        msg: object,
        args: tuple[object, ...] | Mapping[str, object],
        exc_info: _ExcInfo | None,
        func: str | None = None,
        extra: Mapping[str, object] | None = None,
        sinfo: str | None = None,
    ) -> logging.LogRecord:
        if extra:
            extra = {(f"{k}_" if k in _STANDARD else k): v for k, v in extra.items()}
        return super().makeRecord(name, level, fn, lno, msg, args, exc_info, func, extra, sinfo)


logging.setLoggerClass(_SafeExtras)


def setup_logging(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("connector").setLevel(level.upper())
    # aiohttp's own access log is replaced by ours (with request ids and peer ids).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
