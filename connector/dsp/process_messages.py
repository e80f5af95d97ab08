"""What the negotiation and transfer messages have in common: both process ids, and for terminations,
suspensions and error bodies an optional code and reason. The concrete messages add their `@type` and kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

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
