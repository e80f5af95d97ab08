"""Right-operand value kinds: xsd date-times and dates, ISO 8601 durations, integers, and integer interval sets.

Instants are whole microseconds since 1970-01-01T00:00Z (Python's datetime resolution), so every order
constraint on a date-time or a count becomes a set of closed integer intervals: evaluation is a range test and
"narrower or equal" is interval inclusion, both exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from connector.errors import ConnectorError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND

# xsd:dateTime / xsd:date, also accepting the minutes-only time the DSP examples use (2023-12-31T06:00Z).
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_DURATION = re.compile(
    r"P(?!$)(?:([0-9]+)Y)?(?:([0-9]+)M)?(?:([0-9]+)W)?(?:([0-9]+)D)?"
    r"(?:T(?=[0-9])(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)(?:\.([0-9]+))?S)?)?"
)
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (moment - EPOCH) // _US


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def format_instant(micros: int) -> str:
    """An instant as ISO 8601 UTC, seconds precision unless it has a fraction."""
    moment = from_micros(micros)
    text = moment.replace(tzinfo=None).isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.rstrip("0") + "Z" if moment.microsecond else text + "Z"


@dataclass(frozen=True)
class Span:
    """A date-time right operand: an instant (first == last) or, for an xsd:date, the whole day it names."""

    first: int  # microseconds since the epoch
    last: int
    is_date: bool


def parse_date_time(text: str) -> Span:
    """Parse an xsd:dateTime or xsd:date. A value without a timezone is read as UTC."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise ConnectorError("policy.bad_date_time", f"'{text}' is not an xsd:dateTime or xsd:date")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = timedelta(0)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        zone_hours, zone_minutes = int(zone[1:3]), int(zone[4:6])
        if zone_hours > 14 or zone_minutes > 59 or (zone_hours == 14 and zone_minutes):
            raise ConnectorError("policy.bad_date_time", f"'{text}' has an impossible timezone offset")
        offset = sign * timedelta(hours=zone_hours, minutes=zone_minutes)
    try:
        tz = timezone(offset)
        if hour is None:
            start = datetime(int(year), int(month), int(day), tzinfo=tz)
            first = to_micros(start)
            return Span(first, first + US_PER_DAY - 1, True)
        extra = timedelta(0)
        h = int(hour)
        if h == 24:  # xsd allows 24:00:00 as the end of the day
            if int(minute) or int(second or 0) or (fraction and int(fraction)):
                raise ConnectorError("policy.bad_date_time", f"'{text}' is not a valid time of day")
            h, extra = 0, timedelta(days=1)
        micros = int((fraction or "0")[:6].ljust(6, "0"))
        moment = datetime(int(year), int(month), int(day), h, int(minute), int(second or 0), micros, tzinfo=tz)
        instant = to_micros(moment + extra)
    except (ValueError, OverflowError) as exc:
        raise ConnectorError("policy.bad_date_time", f"'{text}' is not a valid date-time ({exc})") from exc
    return Span(instant, instant, False)


@dataclass(frozen=True)
class Duration:
    """An ISO 8601 duration split into calendar months and exact microseconds (days are 24 h: UTC has no DST)."""

    months: int
    micros: int

    def __str__(self) -> str:
        years, months = divmod(self.months, 12)
        days, rest = divmod(self.micros, US_PER_DAY)
        seconds, micros = divmod(rest, US_PER_SECOND)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        date_part = "".join(f"{n}{u}" for n, u in ((years, "Y"), (months, "M"), (days, "D")) if n)
        second_text = f"{seconds}.{micros:06d}".rstrip("0") if micros else str(seconds)
        time_part = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M")) if n)
        if seconds or micros:
            time_part += f"{second_text}S"
        if not date_part and not time_part:
            return "PT0S"
        return "P" + date_part + ("T" + time_part if time_part else "")


def parse_duration(text: str) -> Duration:
    """Parse a non-negative ISO 8601 / xsd:duration such as ``P30D``, ``PT1H``, ``P1Y2M``, ``P2W``."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ConnectorError("policy.bad_duration", f"'{text}' is not an ISO 8601 duration (like P30D or PT1H)")
    years, months, weeks, days, hours, minutes, seconds, fraction = (g or "0" for g in match.groups())
    if max(len(g) for g in (years, months, weeks, days, hours, minutes, seconds)) > 12:
        raise ConnectorError("policy.bad_duration", f"'{text}' is too large a duration")
    micros = (
        (int(weeks) * 7 + int(days)) * US_PER_DAY
        + (int(hours) * 3600 + int(minutes) * 60 + int(seconds)) * US_PER_SECOND
        + int(fraction[:6].ljust(6, "0"))
    )
    return Duration(int(years) * 12 + int(months), micros)


def parse_integer(value: object) -> int:
    """An integer right operand: a JSON integer or a decimal string (JSON-LD sends literals as strings)."""
    if isinstance(value, bool):
        raise ConnectorError("policy.bad_integer", f"{value!r} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise ConnectorError("policy.bad_integer", f"{value!r} is not an integer")


# Calendar arithmetic on proleptic Gregorian dates, in plain integers so no year is out of range.
def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    return 29 if month == 2 and _is_leap(year) else _MONTH_DAYS[month - 1]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a Gregorian date (era-based, valid for any year)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def add_duration(start_micros: int, duration: Duration) -> int:
    """`start + duration` in microseconds; months are added on the calendar, clamping to the month's last day."""
    if duration.months:
        start = from_micros(start_micros)
        month_index = start.year * 12 + (start.month - 1) + duration.months
        year, month = divmod(month_index, 12)
        month += 1
        day = min(start.day, _days_in_month(year, month))
        time_of_day = start_micros % US_PER_DAY
        start_micros = _days_from_civil(year, month, day) * US_PER_DAY + time_of_day
    return start_micros + duration.micros


# Month lengths are between 28 and 31 days, so m months span between 28m and 31m days from any start.
def duration_provably_le(a: Duration, b: Duration) -> bool:
    """Whether start + a <= start + b for every start instant."""
    if a.months <= b.months and a.micros <= b.micros:
        return True
    return a.months * 31 * US_PER_DAY + a.micros <= b.months * 28 * US_PER_DAY + b.micros


def duration_provably_lt(a: Duration, b: Duration) -> bool:
    """Whether start + a < start + b for every start instant."""
    if a.months <= b.months and a.micros <= b.micros and a != b:
        return True
    return a.months * 31 * US_PER_DAY + a.micros < b.months * 28 * US_PER_DAY + b.micros


# Closed integer intervals; None is an open end. A tuple of disjoint intervals is a set of integers.
Interval = tuple[int | None, int | None]
IntervalSet = tuple[Interval, ...]


def order_intervals(operator: str, first: int, last: int) -> IntervalSet:
    """The integers satisfying `x <operator> [first, last]` for a point (first == last) or a whole day."""
    if operator == "eq":
        return ((first, last),)
    if operator == "neq":
        return ((None, first - 1), (last + 1, None))
    if operator == "lt":
        return ((None, first - 1),)
    if operator == "lteq":
        return ((None, last),)
    if operator == "gt":
        return ((last + 1, None),)
    if operator == "gteq":
        return ((first, None),)
    raise ConnectorError("policy.operator_not_applicable", f"'{operator}' is not an order operator")


def in_intervals(value: int, intervals: IntervalSet) -> bool:
    for low, high in intervals:
        if (low is None or low <= value) and (high is None or value <= high):
            return True
    return False


def _within(inner: Interval, outer: Interval) -> bool:
    low, high = inner
    outer_low, outer_high = outer
    low_ok = outer_low is None or (low is not None and low >= outer_low)
    high_ok = outer_high is None or (high is not None and high <= outer_high)
    return low_ok and high_ok


def intervals_subset(inner: IntervalSet, outer: IntervalSet) -> bool:
    """Whether every integer in `inner` is in `outer` (each inner interval fits inside one outer interval;
    exact because `outer` comes from one operator, whose intervals are separated by gaps)."""
    for interval in inner:
        low, high = interval
        if low is not None and high is not None and low > high:
            continue  # empty
        if not any(_within(interval, candidate) for candidate in outer):
            return False
    return True
