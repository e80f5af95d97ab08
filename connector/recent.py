"""A bounded memory of values lately used, for pure functions of texts that are worth not working out again (the
store's compacting, packing and expanding, the parsing of policies): at most so many entries and so many characters
in all, the least lately used forgotten first.

The texts come from peers too (a message can be as large as the listener admits), so the bound is on their size,
not only on their number: an entry larger than `largest` (an eighth of the budget unless said) is not kept at all
(it is worked out again when next needed), and the rest are forgotten until the budget holds.

`held_bytes` counts what a value made of parsed JSON really holds: a list of empty lists is 21 times the characters
it was read from, so a size function for such values counts the objects, not the text.
"""

from __future__ import annotations

import dataclasses
import sys
from collections import OrderedDict
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """At most `entries` values and `budget` characters (as `size` counts an entry's), the least lately used
    forgotten first. Not thread-safe: the store's thread alone uses one."""

    def __init__(self, entries: int, budget: int, size: Callable[[K, V], int], largest: int | None = None) -> None:
        self.entries, self.budget, self._size = entries, budget, size
        self.largest = budget // 8 if largest is None else largest
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.held = 0  # characters held

    def get(self, key: K, default: Any = None) -> Any:
        found = self._items.get(key)
        if found is None:
            return default
        self._items.move_to_end(key)
        return found[0]

    def __setitem__(self, key: K, value: V) -> None:
        size = self._size(key, value)
        old = self._items.pop(key, None)
        if old is not None:
            self.held -= old[1]
        if size > self.largest:
            return
        self._items[key] = (value, size)
        self.held += size
        while len(self._items) > self.entries or self.held > self.budget:
            _, (_, forgotten) = self._items.popitem(last=False)
            self.held -= forgotten

    def pop(self, key: K, default: Any = None) -> Any:
        found = self._items.pop(key, None)
        if found is None:
            return default
        self.held -= found[1]
        return found[0]

    def items(self) -> list[tuple[K, V]]:
        """The entries, the least lately used first."""
        return [(key, value) for key, (value, _) in self._items.items()]

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
        self.held = 0


def held_bytes(value: object, beyond: int | None = None) -> int:
    """The bytes `value` holds in memory: its own (`sys.getsizeof`) and those of everything it refers to through
    dicts, lists, tuples, sets and dataclass fields, each object once. Counting stops once past `beyond`, when only
    that matters (a value larger than a `Recent`'s largest is not kept whatever its size)."""
    seen: set[int] = set()
    total = 0
    waiting = [value]
    size_of = sys.getsizeof
    while waiting and (beyond is None or total <= beyond):
        item = waiting.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += size_of(item)
        if isinstance(item, (dict, MappingProxyType)):
            waiting.extend(item.keys())
            waiting.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            waiting.extend(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            if hasattr(item, "__dict__"):  # its fields, and what was worked out and kept on it (cached properties)
                waiting.append(vars(item))
            else:
                waiting.extend(getattr(item, f.name) for f in dataclasses.fields(item))
    return total
