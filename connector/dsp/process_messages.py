"""What the negotiation and transfer messages have in common: both process ids, and for terminations,
suspensions and error bodies an optional code and reason. The concrete messages add their `@type` and kind.

Also the rules for the two values of these messages that end up in URLs the receiver builds: a process id is an
opaque path segment (`pid_problem`), and a callback address is an https base URL (`callback_problem`); and how a
process id goes into a URL (`pid_segment`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self
from urllib.parse import quote, urlsplit

from connector.dsp.wire import CODE, CONSUMER_PID, MESSAGE_ID, PROVIDER_PID, REASON, Field, Message
from connector.errors import Problem


@dataclass(frozen=True, kw_only=True)
class ProcessMessage(Message):
    """A message about a process both sides know: it names the provider's and the consumer's process id."""

    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, PROVIDER_PID, CONSUMER_PID)
    provider_pid: str
    consumer_pid: str
    message_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReasonedMessage(ProcessMessage):
    """A process message with an optional code and reason (terminations, suspensions, error bodies)."""

    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, PROVIDER_PID, CONSUMER_PID, CODE, REASON)
    code: str | None = None
    reason: tuple[Any, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ProcessError(ReasonedMessage):
    """The error body of a refused process message."""

    @classmethod
    def from_problem(cls, problem: Problem, *, provider_pid: str, consumer_pid: str) -> Self:
        """The problem's code and its sentence, about the two processes named."""
        return cls(provider_pid=provider_pid, consumer_pid=consumer_pid, code=problem.code, reason=(str(problem),))


PID_MAX_LENGTH = 256
CALLBACK_MAX_LENGTH = 2048
# Characters a process id may not hold: path, query and fragment delimiters, escapes and backslashes (which some
# servers read as '/'); control characters are refused by code point.
_PID_FORBIDDEN = frozenset("/\\?#%")
# What a path segment may hold unescaped (RFC 3986 pchar without pct-encoded): a well-formed id stays as it is.
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"


def pid_problem(value: Any) -> str | None:
    """Why `value` is not an acceptable process id (None: it is one). A process id names a process in the
    URLs both sides build (`.../negotiations/{pid}/...`), so it must be one opaque path segment."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > PID_MAX_LENGTH:
        return f"must be at most {PID_MAX_LENGTH} characters"
    if any(c in _PID_FORBIDDEN or ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        return "may not hold '/', '\\', '?', '#', '%' or control characters"
    if ".." in value:
        return "may not hold '..'"
    return None


def pid_segment(pid: str) -> str:
    """`pid` as one path segment of a URL: whatever is not a plain path character is percent-encoded."""
    return quote(pid, safe=_SEGMENT_SAFE)


def callback_problem(value: Any, allow_http: bool = False) -> str | None:
    """Why `value` is not an acceptable callbackAddress (None: it is one): an https URL with a host, no user
    information, query or fragment. `allow_http`: plain http too (the loopback conformance-test profile)."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > CALLBACK_MAX_LENGTH:
        return f"must be at most {CALLBACK_MAX_LENGTH} characters"
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        return "may not hold spaces or control characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "must be a URL"
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        return "must be an https URL" if not allow_http else "must be an http(s) URL"
    if not parts.hostname:
        return "must name a host"
    if "@" in parts.netloc:
        return "may not hold user information"
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return "may not hold a query or a fragment"
    return None
