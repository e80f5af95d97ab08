"""The recognition statements a node applies: read from ``trust.recognitions``, verified against the trust lists in
force, re-read when a file changes and re-verified when the lists change.

The node's own federations are those whose trust lists name the CA that certified the node; only statements one of
them signed are applied (`connector.trust.recognition`). At start, a file that is not a statement, or one signed by
no federation the node recognises, stops the node naming its key; later such a file is logged and left out, and
the statements that verified stay in force. Whether a statement is revoked is looked up with every verification of
a peer it would apply to (its status list, like a credential's).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from connector.errors import ConfigError
from connector.trust.recognition import Recognitions, own_federations
from connector.trust.times import format_datetime
from connector.trust.trust_list import TrustStore

log = logging.getLogger("connector.trust")

Clock = Callable[[], datetime]


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
        return st.st_mtime_ns, st.st_size
    except OSError:
        return -1, -1


class RecognitionKeeper:
    def __init__(self, files: tuple[Path, ...], ca_der: bytes, reload_interval: float) -> None:
        self.files = files
        self.ca_der = ca_der
        self.reload_interval = reload_interval
        self._texts: list[tuple[str, str]] = []
        self._stamps: list[tuple[int, int]] = []
        self._checked = 0.0
        self._built: tuple[TrustStore, Recognitions] | None = None

    def _read(self) -> None:
        texts = []
        for index, path in enumerate(self.files):
            try:
                texts.append((f"trust.recognitions[{index}]", path.read_text(encoding="ascii").strip()))
            except (OSError, UnicodeDecodeError) as exc:
                log.error("recognition statement unreadable: %s", exc, extra={"key": f"trust.recognitions[{index}]"})
        self._texts = texts
        self._stamps = [_stamp(p) for p in self.files]

    def load(self, store: TrustStore, now: datetime) -> None:
        """At start: every configured statement must verify against the trust lists."""
        self._read()
        built = self._build(store, now, log_problems=False)
        if built.problems:
            key, problem = built.problems[0]
            raise ConfigError(problem.code, f"the recognition statement cannot be applied: {problem.reason}", key)
        for statement in built.statements:
            if statement.by_id in built.own:
                log.info(
                    "recognition in force",
                    extra={
                        "by": statement.by,
                        "of": statement.of,
                        "valid_until": format_datetime(statement.valid_until),
                    },
                )

    def current(self, store: TrustStore, now: datetime) -> Recognitions:
        """The statements in force for verifications against `store` (files re-read when changed)."""
        monotonic = time.monotonic()
        if monotonic - self._checked >= self.reload_interval:
            self._checked = monotonic
            if [_stamp(p) for p in self.files] != self._stamps:
                self._read()
                self._built = None
        built = self._built
        if built is None or built[0] is not store:
            return self._build(store, now, log_problems=True)
        return built[1]

    def _build(self, store: TrustStore, now: datetime, log_problems: bool) -> Recognitions:
        recognitions = Recognitions.build(self._texts, store, own_federations(store, self.ca_der), now)
        self._built = (store, recognitions)
        if log_problems:
            for key, problem in recognitions.problems:
                log.error(
                    "recognition statement not applied: %s",
                    problem.reason,
                    extra={"key": key, "code": problem.code},
                )
        return recognitions

    def to_api(self, store: TrustStore, now: datetime) -> dict[str, Any]:
        recognitions = self.current(store, now)
        return {
            "own": sorted(recognitions.own),
            "items": [
                {
                    "id": s.id,
                    "by": s.by,
                    "byId": s.by_id,
                    "of": s.of,
                    "ofId": s.of_id,
                    "applied": s.by_id in recognitions.own and s.valid_at(now),
                    "transitive": s.transitive,
                    "validFrom": format_datetime(s.valid_from),
                    "validUntil": format_datetime(s.valid_until),
                    "equivalences": [e.to_json() for e in s.equivalences],
                }
                for s in recognitions.statements
            ],
            "problems": [{"key": key, "code": p.code, "reason": p.reason} for key, p in recognitions.problems],
        }
