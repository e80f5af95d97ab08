"""What a verification and a standing check may both come to besides success: status lists still to fetch, or a
refusal. Apart from the verifier (`verifier`) so that a node that only re-checks a peer's standing, or only sees
its certificate revoked, does not load the verifier with them."""

from __future__ import annotations

from dataclasses import dataclass

from connector.errors import Problem


@dataclass(frozen=True)
class NeedStatusLists:
    """Status lists still to fetch; for URLs in `refetch` a cached copy must not be offered again."""

    urls: tuple[str, ...]
    refetch: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Refusal:
    problem: Problem
    peer: str | None
    step: str

    @property
    def code(self) -> str:
        return self.problem.code

    @property
    def reason(self) -> str:
        return self.problem.reason
