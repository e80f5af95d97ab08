"""What a step knows besides its process and the event: read by the shell (apply.py) in the step's transaction,
or said by the signer or the data plane, before the step runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.control.decisions import OfferedPolicy
from connector.errors import Problem
from connector.records.processes import Agreement


@dataclass(frozen=True)
class Admission:
    """What deciding whether a transfer may start (or resume, or be pulled) now reads."""

    agreement: Agreement | None
    started: int = 0  # transfers under the agreement that got as far as STARTED, this one included if it did
    purpose: str | None = None  # the purpose declared in the agreement's negotiation


@dataclass(frozen=True)
class Facts:
    offered: tuple[OfferedPolicy, ...] = ()  # negotiation: the dataset's offers, as we make them now
    agreement: Agreement | None = None  # negotiation: the agreement to verify
    signature_problem: Problem | None = None  # the signer refused the peer's signature or countersignature
    signature_detail: Mapping[str, Any] = field(default_factory=dict)  # what the signer found on an agreement
    admission: Admission | None = None  # transfer: for the provider's start or resume
    queued: int = 0  # messages of the process still undelivered
    flow_detail: Mapping[str, Any] = field(default_factory=dict)  # the data plane on a transfer reported complete
    delivered_before: int = 0  # conformance profile: earlier deliveries of the message just delivered


NO_FACTS = Facts()
