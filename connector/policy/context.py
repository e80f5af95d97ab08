"""What a decision is made against: who the peer verifiably is, what it declared, the clock, the usage record."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from connector.errors import ConnectorError
from connector.trust.claims import VerifiedClaims

Stage = Literal["catalog", "negotiation", "transfer"]
STAGES: tuple[str, ...] = ("catalog", "negotiation", "transfer")

NO_REGIONS: Mapping[str, frozenset[str]] = MappingProxyType({})


@dataclass(frozen=True)
class DecisionContext:
    """The facts of one decision.

    - `claims`: what verification established about the peer (None: nothing verified, so every constraint on
      credentials is not evaluable).
    - `now`: the node clock at decision time, timezone-aware.
    - `purpose`: the purpose the consumer declared in its request (recorded with the agreement).
    - `use_count`: transfers already started under the agreement, NOT counting the one being decided; the
      `count` left operand adds that one (see operands.py).
    - `agreement_time`: when the agreement was concluded (for `elapsedTime`).
    - `stage`: which decision this is; `count` and `elapsedTime` look ahead to a first use before a transfer.
    - `regions`: named regions from configuration, in addition to the built-in ones.
    """

    claims: VerifiedClaims | None
    now: datetime
    purpose: str | None = None
    use_count: int = 0
    agreement_time: datetime | None = None
    stage: Stage = "transfer"
    regions: Mapping[str, frozenset[str]] = field(default_factory=lambda: NO_REGIONS)

    def __post_init__(self) -> None:
        if not isinstance(self.now, datetime) or self.now.utcoffset() is None:
            raise ConnectorError("policy.bad_context", "The decision time must be a timezone-aware datetime.", "now")
        if self.agreement_time is not None and (
            not isinstance(self.agreement_time, datetime) or self.agreement_time.utcoffset() is None
        ):
            raise ConnectorError(
                "policy.bad_context", "The agreement time must be a timezone-aware datetime.", "agreement_time"
            )
        if isinstance(self.use_count, bool) or not isinstance(self.use_count, int) or self.use_count < 0:
            raise ConnectorError("policy.bad_context", "The use count must be a non-negative integer.", "use_count")
        if self.stage not in STAGES:
            raise ConnectorError("policy.bad_context", f"Unknown decision stage {self.stage!r}.", "stage")

    # Observed left-operand values, computed once per context and shared by every policy decided against it
    # (a catalogue request decides thousands of access policies for the same peer). A plain dict set once:
    # functools.cached_property takes a lock on every access in this Python.
    @property
    def observations(self) -> dict[str, Any]:
        memo = self.__dict__.get("_observations")
        if memo is None:
            memo = {}
            object.__setattr__(self, "_observations", memo)
        return memo

    def at_stage(self, stage: Stage) -> DecisionContext:
        """This context for another stage (cached, so repeated decisions keep their observations)."""
        if stage == self.stage:
            return self
        stages = self.__dict__.get("_stages")
        if stages is None:
            stages = {}
            object.__setattr__(self, "_stages", stages)
        found = stages.get(stage)
        if found is None:
            found = dataclasses.replace(self, stage=stage)
            stages[stage] = found
        return found
