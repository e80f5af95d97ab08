from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.web.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    format_content_range,
    format_range_header,
    format_unsatisfied_range,
    parse_content_range,
    parse_range_header,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 100)),
        ("bytes=100-", ByteRange(100, 1000)),
        ("bytes=-100", ByteRange(900, 1000)),
        ("bytes=-5000", ByteRange(0, 1000)),
        ("bytes=990-2000", ByteRange(990, 1000)),
        ("BYTES = 5 - 9", ByteRange(5, 10)),
        ("bytes=999-999", ByteRange(999, 1000)),
    ],
)
def test_single_ranges_resolve_against_the_size(header: str, expected: ByteRange) -> None:
    assert parse_range_header(header, 1000) == expected


@pytest.mark.parametrize(
    "header",
    [None, "", "bytes=0-1,5-6", "items=0-5", "bytes=5-2", "bytes=", "bytes=-", "bytes=a-b", "bytes=1-2 3", "0-5"],
)
def test_unusable_headers_are_ignored_so_the_whole_is_served(header: str | None) -> None:
    assert parse_range_header(header, 1000) is None


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_a_range_beyond_the_end_is_not_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range_header(header, 1000)
    assert caught.value.code == "source.range.unsatisfiable"
    assert caught.value.total == 1000


def test_any_range_of_an_empty_representation_is_not_satisfiable() -> None:
    for header in ("bytes=0-", "bytes=-10"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range_header(header, 0)


def test_with_unknown_size_an_open_range_is_kept_and_a_suffix_range_ignored() -> None:
    assert parse_range_header("bytes=5-", None) == ByteRange(5, None)
    assert parse_range_header("bytes=5-9", None) == ByteRange(5, 10)
    assert parse_range_header("bytes=-5", None) is None


def test_absurdly_long_numbers_are_ignored() -> None:
    assert parse_range_header("bytes=" + "9" * 40 + "-", 10) is None


def test_byte_range_refuses_empty_or_negative_spans() -> None:
    with pytest.raises(ValueError):
        ByteRange(-1)
    with pytest.raises(ValueError):
        ByteRange(5, 5)


def test_content_range_formats() -> None:
    assert format_content_range(ByteRange(0, 10), 100) == "bytes 0-9/100"
    assert format_content_range(ByteRange(5, 10), None) == "bytes 5-9/*"
    assert format_unsatisfied_range(100) == "bytes */100"
    with pytest.raises(ValueError):
        format_content_range(ByteRange(5), 100)


@pytest.mark.parametrize("value", [None, "bytes 5-4/10", "bytes 0-10/10", "bytes */10", "bits 0-1/2", "bytes 1-2"])
def test_unusable_content_ranges_are_rejected(value: str | None) -> None:
    assert parse_content_range(value) is None


@given(st.text(max_size=40), st.one_of(st.none(), st.integers(0, 10**12)))
def test_range_parsing_never_fails_unexpectedly_and_stays_inside(header: str, total: int | None) -> None:
    try:
        result = parse_range_header(header, total)
    except RangeNotSatisfiable:
        assert total is not None
        return
    if result is not None and total is not None:
        assert 0 <= result.start < total
        assert result.stop is not None and result.start < result.stop <= total


@given(st.integers(0, 10**15), st.one_of(st.none(), st.integers(1, 10**6)))
def test_range_header_round_trips(start: int, length: int | None) -> None:
    r = ByteRange(start, None if length is None else start + length)
    assert parse_range_header(format_range_header(r), None) == r


@given(st.integers(0, 10**15), st.integers(1, 10**6), st.integers(0, 10**6))
def test_content_range_round_trips(start: int, length: int, extra: int) -> None:
    r = ByteRange(start, start + length)
    total = start + length + extra
    assert parse_content_range(format_content_range(r, total)) == (r, total)
    assert parse_content_range(format_content_range(r, None)) == (r, None)
