"""Strict JSON for messages, and the books that cap connections: pure, every edge."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import ConnectorError
from connector.web.bodies import MAX_DEPTH, nesting_depth, parse_json
from connector.web.limits import ConnectionBook


def refused(data: bytes) -> str:
    with pytest.raises(ConnectorError) as err:
        parse_json(data)
    assert err.value.code == "request.invalid_json" and err.value.where == "$"
    return err.value.reason


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"NaN", "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b"[-Infinity]", "-Infinity"),
        (b"[1e400]", "does not fit a double"),
        (b"[-1e999]", "does not fit a double"),
        (b'"\xff"', "not UTF-8"),
        (b'{"a": "\xc3"}', "not UTF-8"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "deeper than"),
        (b"[" * 100_000, "deeper than"),
        (b"{", "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
def test_what_is_not_strict_json_is_refused_with_the_reason(data: bytes, says: str) -> None:
    assert says in refused(data)


def test_nesting_up_to_the_limit_and_brackets_inside_strings_are_fine() -> None:
    at_limit = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json(at_limit) is not None
    crowded = json.dumps({"s": "[" * 500, "t": "{" * 500}).encode()
    assert parse_json(crowded) == {"s": "[" * 500, "t": "{" * 500}
    assert nesting_depth(json.dumps([['[\\"[[['], {"a": "]]]"}] * 40)) == 2


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(), c, max_size=4),
        max_leaves=30,
    )
)
def test_every_json_value_of_bounded_depth_reads_back_as_itself(value) -> None:
    text = json.dumps(value)
    if nesting_depth(text, 10**9) <= MAX_DEPTH:
        assert parse_json(text.encode()) == value


@given(st.binary(max_size=200))
def test_any_bytes_end_in_a_value_or_a_refusal(data: bytes) -> None:
    try:
        parse_json(data)
    except ConnectorError as exc:
        assert exc.code == "request.invalid_json"


def test_a_connection_book_caps_in_all_and_per_client_and_gives_back() -> None:
    book = ConnectionBook(max_total=3, max_per_client=2)
    assert book.admit("a") is None and book.admit("a") is None
    assert "this client" in (book.admit("a") or "")
    assert book.admit("b") is None
    assert "listener" in (book.admit("c") or "")
    book.release("a")
    assert book.admit("c") is None
    for client in ("a", "b", "c"):
        book.release(client)
    assert book.total == 0 and not book.by_client
