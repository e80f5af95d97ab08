"""New identifiers: `urn:uuid:` URNs of UUIDs version 7 (RFC 9562), which begin with the time they were made.

Process, agreement, message and token ids are keys of the store's tables and indexes. Random (version 4) keys
land on a random page of each index for every insert, so each transaction writes one page per index and row;
keys that grow with time land together on the newest pages, which the transactions of concurrent steps then
share. The 74 random bits of each id keep them unguessable and unique.
"""

from __future__ import annotations

import os
import time

_RAND_B = (1 << 62) - 1


def new_urn() -> str:
    """A new `urn:uuid:` with a UUID version 7: 48 bits of milliseconds since the epoch, then random bits."""
    ms = time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits: 12 for rand_a, 62 for rand_b (6 dropped)
    value = ms << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62 | rand & _RAND_B
    h = f"{value:032x}"
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
