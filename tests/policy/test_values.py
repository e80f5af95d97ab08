from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import ConnectorError
from connector.policy.values import (
    US_PER_DAY,
    Duration,
    _days_from_civil,
    add_duration,
    duration_provably_le,
    duration_provably_lt,
    format_instant,
    from_micros,
    in_intervals,
    intervals_subset,
    order_intervals,
    parse_date_time,
    parse_duration,
    parse_integer,
    to_micros,
)

UTC = UTC


def micros(*args: int) -> int:
    return to_micros(datetime(*args, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "first", "last", "is_date"),
    [
        ("2023-12-31T06:00Z", micros(2023, 12, 31, 6), micros(2023, 12, 31, 6), False),  # DSP example spelling
        ("2023-12-31T06:00:00Z", micros(2023, 12, 31, 6), micros(2023, 12, 31, 6), False),
        ("2023-12-31T06:00:00.25Z", micros(2023, 12, 31, 6) + 250_000, micros(2023, 12, 31, 6) + 250_000, False),
        ("2023-12-31T08:00:00+02:00", micros(2023, 12, 31, 6), micros(2023, 12, 31, 6), False),
        ("2023-12-31T06:00:00", micros(2023, 12, 31, 6), micros(2023, 12, 31, 6), False),  # no zone: UTC
        ("2023-12-31T24:00:00Z", micros(2024, 1, 1), micros(2024, 1, 1), False),
        ("2026-12-31", micros(2026, 12, 31), micros(2027, 1, 1) - 1, True),
        ("2026-12-31+01:00", micros(2026, 12, 30, 23), micros(2026, 12, 31, 23) - 1, True),
    ],
)
def test_date_times_and_dates_parse_to_their_span(text: str, first: int, last: int, is_date: bool) -> None:
    span = parse_date_time(text)
    assert (span.first, span.last, span.is_date) == (first, last, is_date)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2026-13-01",
        "2026-02-30",
        "2026-1-01",
        "2026-01-01T25:00Z",
        "2026-01-01T24:30:00Z",
        "2026-01-01T10:00+15:00",
        "0000-01-01",
        "20260101",
        "2026-01-01T10Z",
        "٢٠٢٦-01-01",
    ],
)
def test_invalid_date_times_are_refused_with_a_connector_error(text: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        parse_date_time(text)
    assert caught.value.code == "policy.bad_date_time"


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)))
def test_any_utc_datetime_round_trips_through_its_iso_form(moment: datetime) -> None:
    span = parse_date_time(moment.isoformat())
    assert span.first == span.last == to_micros(moment)
    assert parse_date_time(format_instant(span.first)).first == span.first


@pytest.mark.parametrize(
    ("text", "months", "micros_"),
    [
        ("P30D", 0, 30 * US_PER_DAY),
        ("PT1H", 0, 3600 * 10**6),
        ("P1Y2M", 14, 0),
        ("P2W", 0, 14 * US_PER_DAY),
        ("P1DT0.5S", 0, US_PER_DAY + 500_000),
        ("PT0S", 0, 0),
        ("P1M1DT1H1M1S", 1, US_PER_DAY + 3661 * 10**6),
    ],
)
def test_durations_split_into_months_and_exact_micros(text: str, months: int, micros_: int) -> None:
    assert parse_duration(text) == Duration(months, micros_)


@pytest.mark.parametrize("text", ["", "P", "PT", "P1", "30D", "-P1D", "P1.5D", "P1DT", "PT1H2", "p1d", "P1D ", "P१D"])
def test_invalid_durations_are_refused(text: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        parse_duration(text)
    assert caught.value.code == "policy.bad_duration"


@given(st.integers(0, 10**4), st.integers(0, 10**12))
def test_duration_text_round_trips(months: int, micros_: int) -> None:
    duration = Duration(months, micros_)
    assert parse_duration(str(duration)) == duration


@pytest.mark.parametrize(("raw", "value"), [(5, 5), ("5", 5), ("-3", -3), ("+7", 7), (0, 0)])
def test_integers_are_json_integers_or_decimal_strings(raw: object, value: int) -> None:
    assert parse_integer(raw) == value


@pytest.mark.parametrize("raw", [True, 5.0, 5.5, "5.5", "five", "", None, [5], "1e3"])
def test_non_integers_are_refused(raw: object) -> None:
    with pytest.raises(ConnectorError):
        parse_integer(raw)


@given(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_civil_day_numbers_match_the_standard_library(day: date) -> None:
    assert _days_from_civil(day.year, day.month, day.day) == (day - date(1970, 1, 1)).days


def _add_months_reference(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    for day in range(moment.day, 0, -1):
        try:
            return moment.replace(year=year, month=month + 1, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    st.integers(0, 600),
    st.integers(0, 400 * US_PER_DAY),
)
def test_adding_a_duration_adds_calendar_months_then_exact_time(moment: datetime, months: int, extra: int) -> None:
    expected = _add_months_reference(moment, months) + timedelta(microseconds=extra)
    assert add_duration(to_micros(moment), Duration(months, extra)) == to_micros(expected)


def test_month_addition_clamps_to_the_last_day_of_the_month() -> None:
    start = micros(2026, 1, 31, 10)
    assert from_micros(add_duration(start, Duration(1, 0))) == datetime(2026, 2, 28, 10, tzinfo=UTC)
    assert from_micros(add_duration(micros(2024, 1, 31), Duration(1, 0))) == datetime(2024, 2, 29, tzinfo=UTC)


def test_durations_beyond_year_9999_still_compare() -> None:
    assert add_duration(micros(2026, 1, 1), Duration(12 * 10**6, 0)) > micros(9999, 12, 31)


@given(
    st.builds(Duration, st.integers(0, 30), st.integers(0, 200 * US_PER_DAY)),
    st.builds(Duration, st.integers(0, 30), st.integers(0, 200 * US_PER_DAY)),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_provable_duration_order_holds_from_every_start(a: Duration, b: Duration, start: datetime) -> None:
    s = to_micros(start)
    if duration_provably_le(a, b):
        assert add_duration(s, a) <= add_duration(s, b)
    if duration_provably_lt(a, b):
        assert add_duration(s, a) < add_duration(s, b)


def test_a_month_is_not_provably_shorter_or_longer_than_thirty_days() -> None:
    month, thirty = Duration(1, 0), parse_duration("P30D")
    assert not duration_provably_le(month, thirty)
    assert not duration_provably_le(thirty, month)
    assert duration_provably_lt(parse_duration("P27D"), month)
    assert duration_provably_lt(month, parse_duration("P32D"))


@pytest.mark.parametrize(
    ("operator", "inside", "outside"),
    [
        ("eq", [10], [9, 11]),
        ("neq", [9, 11], [10]),
        ("lt", [9], [10, 11]),
        ("lteq", [9, 10], [11]),
        ("gt", [11], [9, 10]),
        ("gteq", [10, 11], [9]),
    ],
)
def test_order_operators_as_interval_sets(operator: str, inside: list[int], outside: list[int]) -> None:
    intervals = order_intervals(operator, 10, 10)
    assert all(in_intervals(v, intervals) for v in inside)
    assert not any(in_intervals(v, intervals) for v in outside)


@given(
    st.sampled_from(["eq", "neq", "lt", "lteq", "gt", "gteq"]),
    st.integers(-20, 20),
    st.sampled_from(["eq", "neq", "lt", "lteq", "gt", "gteq"]),
    st.integers(-20, 20),
)
def test_interval_inclusion_agrees_with_membership(op_a: str, a: int, op_b: str, b: int) -> None:
    inner, outer = order_intervals(op_a, a, a), order_intervals(op_b, b, b)
    brute = all(in_intervals(v, outer) for v in range(-60, 61) if in_intervals(v, inner))
    # Beyond the sampled window both sets are constant, so the window decides inclusion.
    assert intervals_subset(inner, outer) == brute
