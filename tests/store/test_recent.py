"""The store's memories of values lately used stay within their bounds, whatever size of text comes (a peer's
message can be as large as a listener admits), and forget the least lately used first."""

from __future__ import annotations

from connector.recent import Recent


def _size(key: str, value: str) -> int:
    return len(value)


def test_at_most_so_many_entries_the_least_lately_used_forgotten_first():
    recent: Recent[str, str] = Recent(3, 1000, _size)
    for key in "abc":
        recent[key] = key * 10
    assert recent.get("a") == "a" * 10  # now the latest used
    recent["d"] = "d" * 10
    assert [recent.get(k) is not None for k in "abcd"] == [True, False, True, True]
    assert len(recent) == 3 and recent.held == 30


def test_at_most_so_many_characters_and_a_value_too_large_is_not_kept():
    recent: Recent[str, str] = Recent(100, 800, _size)
    for n in range(10):
        recent[str(n)] = "x" * 100  # the eighth of the budget: kept
    assert recent.held <= 800 and len(recent) == 8
    assert recent.get("0") is None and recent.get("9") == "x" * 100
    recent["big"] = "y" * 101  # more than an eighth of the budget
    assert recent.get("big") is None and recent.held <= 800
    recent["9"] = "z" * 101  # a key given a value too large forgets the old one too
    assert recent.get("9") is None and recent.held == 700


def test_the_store_memories_hold_a_flood_of_large_texts_within_their_budget():
    import gc
    import tracemalloc

    from connector.store.sql import content as columns

    encode = columns.detail_text
    values = (
        {"n": n, "part": {"text": f"{n}-" + "p" * 120_000}, "small": {"t": f"{n}-" + "q" * 600}} for n in range(300)
    )
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for value in values:  # distinct large members, as peers could send them: compacted, packed, remembered
            text = encode(value)
            row, parts = columns.compacted(value, text, encode)
            for sha, part in parts.items():
                columns._packed(sha, part)
            del text, row, parts
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 300 texts of 120 KB went through; the memories keep at most their budgets (4 + 4 + 4 + 4 + 2 MiB).
    assert held < 24 * 1024 * 1024, held
    assert all(m.held <= m.budget for m in (columns._compacted, columns._known_parts, columns._packings))


def test_held_bytes_counts_what_parsed_json_holds_not_the_text_it_was_read_from():
    import gc
    import json
    import tracemalloc

    from connector.recent import held_bytes

    text = json.dumps({"lists": [[] for _ in range(20_000)], "texts": [f"{n}" + "x" * 1000 for n in range(100)]})
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        value = json.loads(text)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held > 6 * len(text)  # 20,000 lists of 3 characters each hold 56 bytes and more
    assert held * 0.9 < held_bytes(value) < held * 1.1, (held, held_bytes(value))
    shared = "y" * 10_000
    assert held_bytes([shared, shared, (shared,)]) < 11_000  # what is referred to twice is held once


def test_held_bytes_stops_counting_once_past_what_matters():
    from connector.recent import held_bytes

    value = [[] for _ in range(100_000)]
    full = held_bytes(value)
    assert 100_000 < held_bytes(value, 100_000) < full / 4  # the list itself, and not its 100,000 members
