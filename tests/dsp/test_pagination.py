"""Catalogue pagination: pages, cursors and Link headers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.dsp.pagination import decode_cursor, encode_cursor, paginate
from connector.errors import ConnectorError

BASE = "https://localhost:8443/api/dsp/2025-1/catalog/request"


def _cursor_of(url: str) -> str:
    [value] = parse_qs(urlsplit(url).query)["continuationToken"]
    return value


def test_first_page_has_only_a_next_link() -> None:
    page = paginate(list(range(10)), page_size=4)
    assert page.items == (0, 1, 2, 3)
    assert set(page.link_targets(BASE)) == {"next"}
    [header] = page.link_headers(BASE)
    assert header.startswith(f"<{BASE}?continuationToken=") and header.endswith('>; rel="next"')


def test_middle_page_links_both_ways_and_last_page_only_back() -> None:
    items = list(range(10))
    second = paginate(items, page_size=4, cursor=_cursor_of(paginate(items, page_size=4).link_targets(BASE)["next"]))
    assert second.items == (4, 5, 6, 7) and set(second.link_targets(BASE)) == {"next", "previous"}
    last = paginate(items, page_size=4, cursor=_cursor_of(second.link_targets(BASE)["next"]))
    assert last.items == (8, 9) and set(last.link_targets(BASE)) == {"previous"}
    back = paginate(items, page_size=4, cursor=_cursor_of(last.link_targets(BASE)["previous"]))
    assert back.items == second.items


def test_single_page_has_no_links() -> None:
    assert paginate(["a", "b"], page_size=5).link_headers(BASE) == ()
    assert paginate([], page_size=5).link_headers(BASE) == ()


def test_existing_query_parameters_are_kept_and_an_old_cursor_replaced() -> None:
    page = paginate(list(range(10)), page_size=2, cursor=encode_cursor(2))
    url = page.link_targets(f"{BASE}?lang=en&continuationToken=stale")["next"]
    query = parse_qs(urlsplit(url).query)
    assert query["lang"] == ["en"] and decode_cursor(query["continuationToken"][0]) == 4


def test_cursor_past_the_end_gives_an_empty_page_that_links_back_to_the_last_one() -> None:
    page = paginate(list(range(5)), page_size=2, cursor=encode_cursor(40))
    assert page.items == () and page.next_cursor is None
    assert page.previous_cursor is not None and decode_cursor(page.previous_cursor) == 4


@pytest.mark.parametrize("cursor", ["", "garbage!", "b2Zmc2V0Oi0x", encode_cursor(3) + "AA", "é", "x" * 100])
def test_cursor_we_did_not_issue_is_refused(cursor: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        paginate([1, 2, 3], page_size=1, cursor=cursor)
    assert (caught.value.code, caught.value.where) == ("dsp.invalid_cursor", "continuationToken")


def test_nonsense_page_size_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        paginate([1], page_size=0)


@given(st.integers(min_value=0, max_value=10**12))
def test_cursor_round_trips(offset: int) -> None:
    assert decode_cursor(encode_cursor(offset)) == offset


@given(st.lists(st.integers(), max_size=60), st.integers(min_value=1, max_value=15))
def test_following_next_links_visits_every_item_once_in_order(items: list[int], page_size: int) -> None:
    visited: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = paginate(items, page_size=page_size, cursor=cursor)
        assert len(page.items) <= page_size
        visited.extend(page.items)
        pages += 1
        targets = page.link_targets(BASE)
        if "next" not in targets:
            break
        cursor = _cursor_of(targets["next"])
        following = paginate(items, page_size=page_size, cursor=cursor)
        assert following.previous_cursor is not None
        assert paginate(items, page_size=page_size, cursor=following.previous_cursor).items == page.items
    assert visited == items
    assert pages == max(1, -(-len(items) // page_size))
