"""Console sessions: who signed in with the API key, until when, and the token every form must carry.

A session lives in the node's memory only (a restart signs everyone out) and ends after `idle` seconds without a
request, after `lifetime` seconds in all, or at logout. Its id goes to the browser in a cookie; the store keeps
only the id's SHA-256, so that the table itself holds nothing a browser could present. A visitor who has not
signed in yet gets a session too, unauthenticated, so that the login form carries a CSRF token like every other.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

COOKIE = "connector_console"
LIFETIME = 12 * 3600.0  # seconds a session may last however busy it is
MAX_SESSIONS = 512  # the oldest idle session goes first when more are opened


@dataclass(frozen=True)
class Session:
    csrf: str
    authenticated: bool
    created: float
    last_seen: float
    notice: str | None = None  # said once, on the next page (what the last form did)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    def __init__(self, idle: float, lifetime: float = LIFETIME, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle = idle
        self.lifetime = lifetime
        self.clock = clock
        self._held: OrderedDict[str, Session] = OrderedDict()  # by digest, least recently seen first

    def open(self, authenticated: bool) -> tuple[str, Session]:
        """A new session and the id its cookie carries."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), authenticated, now, now)
        self._held[_digest(session_id)] = session
        while len(self._held) > MAX_SESSIONS:
            self._held.popitem(last=False)
        return session_id, session

    def find(self, session_id: str | None) -> tuple[Session | None, bool]:
        """(the live session of `session_id`, whether one existed but has expired); seeing it renews it."""
        if not session_id:
            return None, False
        key = _digest(session_id)
        session = self._held.get(key)
        if session is None:
            return None, False
        now = self.clock()
        if now - session.last_seen > self.idle or now - session.created > self.lifetime:
            del self._held[key]
            return None, session.authenticated
        session = replace(session, last_seen=now)
        self._held[key] = session
        self._held.move_to_end(key)
        return session, False

    def tell(self, session_id: str, notice: str) -> None:
        key = _digest(session_id)
        if key in self._held:
            self._held[key] = replace(self._held[key], notice=notice)

    def take_notice(self, session_id: str) -> str | None:
        key = _digest(session_id)
        session = self._held.get(key)
        if session is None or session.notice is None:
            return None
        self._held[key] = replace(session, notice=None)
        return session.notice

    def close(self, session_id: str | None) -> None:
        if session_id:
            self._held.pop(_digest(session_id), None)

    def __len__(self) -> int:
        return len(self._held)


def same_token(expected: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(expected.encode(), (presented or "").encode())
