from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import ConnectorError
from connector.trust.times import (
    format_datetime,
    from_numeric_date,
    parse_date,
    parse_datetime,
    require_aware,
    to_numeric_date,
)

_instants = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 30), timezones=st.just(UTC))


@given(_instants)
def test_written_instants_read_back_to_the_second(moment: datetime) -> None:
    text = format_datetime(moment)
    assert text.endswith("Z") and len(text) == 20
    assert parse_datetime(text, "x.malformed", "validFrom") == moment.replace(microsecond=0)


@given(_instants)
def test_numeric_dates_round_trip_to_the_second(moment: datetime) -> None:
    assert from_numeric_date(to_numeric_date(moment), "x", "exp") == moment.replace(microsecond=0)


def test_offsets_are_honoured() -> None:
    assert parse_datetime("2025-06-01T14:00:00+02:00", "c", "w") == datetime(2025, 6, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2025-06-01T12:00:00",
        "2025-06-01 12:00:00Z",
        "2025-13-01T12:00:00Z",
        "2025-06-01T12:00:00+24:00",
        "3000-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "٢٠٢٥-06-01T12:00:00Z",
        20250601,
    ],
)
def test_instants_without_offset_or_out_of_range_are_refused(text) -> None:
    with pytest.raises(ConnectorError) as err:
        parse_datetime(text, "x.malformed", "validFrom")
    assert err.value.code == "x.malformed"


@pytest.mark.parametrize("value", [True, "1700000000", float("nan"), float("inf"), -1, 10**12, None])
def test_numeric_date_must_be_a_plain_number_in_range(value) -> None:
    with pytest.raises(ConnectorError):
        from_numeric_date(value, "x.malformed", "exp")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ConnectorError) as err:
        require_aware(datetime(2025, 1, 1))
    assert err.value.code == "trust.naive_time"
    assert require_aware(datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=1))))


def test_calendar_dates_are_strict() -> None:
    assert parse_date("2024-02-29", "c", "w").day == 29
    for bad in ("2023-02-29", "2024-2-1", "20240201"):
        with pytest.raises(ConnectorError):
            parse_date(bad, "c", "w")


@given(st.text(max_size=40))
def test_parsers_raise_only_connector_error(text: str) -> None:
    for parse in (parse_datetime, parse_date):
        try:
            parse(text, "c", "w")
        except ConnectorError:
            pass
