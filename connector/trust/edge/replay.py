"""The trust core's replay cache, kept in the node's store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

from connector.errors import ConnectorError
from connector.store.interface import Tx
from connector.store.sql.trust import remember_jti


class StoreReplayCache:
    """The core's `ReplayCache` over the store. Usable only on the store thread while bound to a transaction
    (`bound(tx)`), which is how the verifier edge runs the one plan step that remembers a token."""

    def __init__(self) -> None:
        self._tx: Tx | None = None

    def bind(self, tx: Tx | None) -> None:
        self._tx = tx

    @contextlib.contextmanager
    def bound(self, tx: Tx) -> Iterator[None]:
        """Bound to `tx` for the duration of the block."""
        self.bind(tx)
        try:
            yield
        finally:
            self.bind(None)

    def remember(self, issuer: str, jti: str, until: datetime, now: datetime) -> bool:
        if self._tx is None:
            raise ConnectorError(
                "token.replay_unavailable",
                "the replay cache is not reachable; refusing rather "
                "than accepting a token that may have been used before",
            )
        return remember_jti(self._tx, issuer, jti, until, now)
