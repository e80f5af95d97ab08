"""Instants as the specifications write them: JWT NumericDate and XML Schema dateTimeStamp.

Every instant handled by the trust package is timezone-aware; a naive datetime is a programming error and is
refused rather than silently read as local time.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta, timezone

from connector.errors import ConnectorError

# XML Schema 1.1 dateTimeStamp (VC DM 2.0 validFrom / validUntil): the offset is mandatory.
_DATETIME_STAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$",
    re.ASCII,
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Instants outside these years are refused: nothing here lives that long, and it keeps leeway arithmetic
# (now + 30 s, validUntil + leeway) clear of datetime's range limits.
EARLIEST = _EPOCH
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
# The longest lifetime of a self-issued ID token a party accepts unless configured otherwise (DCP's and ours); here
# rather than in `tokens`, so that a node can compare its own setting with it without loading token handling.
DEFAULT_MAX_TOKEN_LIFETIME = timedelta(seconds=600)


def require_aware(moment: datetime, name: str = "now") -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ConnectorError("trust.naive_time", f"{name} must be a timezone-aware datetime", name)
    return moment


def format_datetime(moment: datetime) -> str:
    """UTC, whole seconds, ``Z`` suffix: the one form this package writes."""
    require_aware(moment, "datetime")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: object, code: str, where: str) -> datetime:
    """A dateTimeStamp string as an aware datetime, or ConnectorError(code)."""
    match = _DATETIME_STAMP.match(value) if isinstance(value, str) else None
    if match is None:
        raise ConnectorError(code, f"{where} is not a date-time with a timezone offset", where)
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, offset = match.group(7), match.group(8)
    # Python keeps microseconds only; further digits are truncated, never rounded up.
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    try:
        if offset == "Z":
            zone = UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
    except ValueError:
        raise ConnectorError(code, f"{where} is not a valid date-time", where) from None
    if not EARLIEST <= moment < LATEST:
        raise ConnectorError(code, f"{where} is outside the years 1970-2999", where)
    return moment


def format_date(day: date) -> str:
    return day.isoformat()


def parse_date(value: object, code: str, where: str) -> date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise ConnectorError(code, f"{where} is not a calendar date (YYYY-MM-DD)", where)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConnectorError(code, f"{where} is not a valid calendar date", where) from None


def to_numeric_date(moment: datetime) -> int:
    """JWT NumericDate: whole seconds since the epoch (sub-second precision is dropped)."""
    require_aware(moment, "datetime")
    # Integer arithmetic: a float timestamp rounds x.999999 up to the next second for distant dates.
    return (moment - _EPOCH) // timedelta(seconds=1)


def from_numeric_date(value: object, code: str, where: str) -> datetime:
    """A JWT NumericDate (JSON number, not a boolean) as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConnectorError(code, f"claim {where!r} is not a NumericDate", where)
    if isinstance(value, float) and not math.isfinite(value):
        raise ConnectorError(code, f"claim {where!r} is not a finite number", where)
    if not EARLIEST.timestamp() <= value < LATEST.timestamp():
        raise ConnectorError(code, f"claim {where!r} is outside the years 1970-2999", where)
    return datetime.fromtimestamp(value, tz=UTC)
