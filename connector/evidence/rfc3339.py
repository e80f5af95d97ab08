"""The one timestamp spelling used in evidence: RFC 3339, UTC, always six fractional digits, ``Z``.

A fixed spelling matters because times are hashed: two spellings of one instant would be two different records.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from connector.evidence.errors import EvidenceError

_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def format_utc(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ``; naive datetimes are refused rather than guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise EvidenceError("time.naive", "a timezone-aware time is required")
    utc = moment.astimezone(UTC)
    if utc.year >= 1000:  # the same text, faster (isoformat pads smaller years, which strftime does not)
        return utc.isoformat(timespec="microseconds")[:-6] + "Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond:06d}Z"


def parse_utc(text: object) -> datetime:
    """The inverse of `format_utc`; any other spelling (offsets, fewer digits, lowercase) is refused."""
    if not isinstance(text, str) or not _PATTERN.fullmatch(text):
        raise EvidenceError("time.malformed", "time is not RFC 3339 UTC with microseconds (…:SS.ffffffZ)")
    try:
        if text.isascii():  # fromisoformat reads exactly the pattern's ASCII spelling, much faster than strptime
            return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise EvidenceError("time.malformed", f"not a valid calendar time: {text}") from None


def require_aware(moment: datetime, where: str = "now") -> datetime:
    """Refuse naive datetimes: comparing them with certificate or token times would silently assume a zone."""
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise EvidenceError("time.naive", "a timezone-aware time is required", where)
    return moment
