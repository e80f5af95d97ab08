"""Parties of a policy by their data-space names: assigner and assignee mapped to participant ids.

DSP leaves `assigner` and `assignee` to each data space: Catena-X writes Business Partner Numbers, the DSP TCK
writes `TCK_PARTICIPANT`, this node writes DIDs. A node that is told which names stand for which participant
(its own aliases and those of its peers, in the configuration) reads such a policy as if it named the DIDs, so
that the assignee check and the comparison of an agreement with what was asked for hold for every spelling.
Names it was not told about are left as they are (and compare unequal to a DID, as before).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from connector.policy.vocabulary import normalise_name

_PARTY_KEYS = ("assigner", "assignee")
_RULE_KINDS = ("permission", "prohibition", "obligation", "duty", "remedy", "consequence")


@dataclass(frozen=True)
class PartyNames:
    """Alias -> participant id (a DID)."""

    aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def participant(self, name: str) -> str:
        """The participant `name` stands for (itself when it is no alias)."""
        return self.aliases.get(name, name)

    def resolve(self, policy: Mapping[str, Any]) -> Mapping[str, Any]:
        """`policy` with every aliased assigner and assignee (of the policy and of its rules) replaced by the
        participant id; the policy itself when nothing changes (most of the time: no aliases)."""
        if not self.aliases:
            return policy
        resolved = self._resolved(policy)
        return resolved if resolved != policy else policy

    def _resolved(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._resolved(v) for v in value]
        if not isinstance(value, Mapping):
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = normalise_name(key) if isinstance(key, str) else key
            if name in _PARTY_KEYS:
                out[key] = self._party(item)
            elif name in _RULE_KINDS:
                out[key] = self._resolved(item)
            else:
                out[key] = item
        return out

    def _party(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.participant(value)
        if isinstance(value, Mapping) and isinstance(value.get("@id"), str):
            return {**value, "@id": self.participant(value["@id"])}
        return value
