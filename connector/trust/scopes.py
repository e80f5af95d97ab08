"""DCP scopes: what a verifier may read from a holder's credential service.

A scope is ``<alias>:<discriminator>[:<operation>]``. DCP 1.0 defines two aliases that must be supported,
``org.eclipse.dspace.dcp.vc.type`` (by credential type) and ``org.eclipse.dspace.dcp.vc.id`` (by credential id)
(verifiable.presentation.protocol.md, "Scopes"); EDC writes the operation explicitly
(``...:MembershipCredential:read``), and EDC deployments configured before that alias existed ask with
``org.eclipse.edc.vc.type:<Type>:read``.

Choices: only those aliases are understood, the EDC one as a synonym of the DCP type alias (a scope grants the
same whichever of the two spells it: `Scope.grant`); the operation, when written, must be ``read`` (a
presentation query never needs more); a scope written without an operation means ``read`` and is rendered with
it. Scopes this node writes use the DCP aliases. Scopes travel space-delimited in access tokens, so whitespace
and control characters are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from connector.errors import ConnectorError

VC_TYPE_ALIAS = "org.eclipse.dspace.dcp.vc.type"
VC_ID_ALIAS = "org.eclipse.dspace.dcp.vc.id"
EDC_VC_TYPE_ALIAS = "org.eclipse.edc.vc.type"
READ = "read"
_KNOWN_OPERATIONS = ("read", "write", "all")
_ALIASES = (VC_TYPE_ALIAS, VC_ID_ALIAS, EDC_VC_TYPE_ALIAS)
_TYPE_ALIASES = (VC_TYPE_ALIAS, EDC_VC_TYPE_ALIAS)
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")
MAX_SCOPE_LENGTH = 512


@dataclass(frozen=True)
class Scope:
    alias: str
    discriminator: str
    operation: str = READ

    def __str__(self) -> str:
        return f"{self.alias}:{self.discriminator}:{self.operation}"

    @property
    def by_type(self) -> bool:
        return self.alias in _TYPE_ALIASES

    @property
    def grant(self) -> tuple[str, str, str]:
        """What the scope grants, whichever alias spells it: (``type`` or ``id``, discriminator, operation)."""
        return ("type" if self.by_type else "id", self.discriminator, self.operation)

    def matches(self, types: Iterable[str], credential_id: str | None) -> bool:
        """Whether a credential with these types and id falls under this scope."""
        if self.by_type:
            return self.discriminator in set(types)
        return credential_id is not None and credential_id == self.discriminator


def parse_scope(text: object) -> Scope:
    """Read one scope string; raises ConnectorError('scope.invalid')."""
    if not isinstance(text, str) or len(text) > MAX_SCOPE_LENGTH or not _PRINTABLE.match(text):
        raise ConnectorError("scope.invalid", "a scope is a short string of printable characters without spaces")
    alias, sep, rest = text.partition(":")
    if not sep or alias not in _ALIASES:
        raise ConnectorError(
            "scope.invalid", f"scope alias must be {VC_TYPE_ALIAS}, {VC_ID_ALIAS} or {EDC_VC_TYPE_ALIAS}", text[:100]
        )
    discriminator, operation = rest, READ
    head, sep, tail = rest.rpartition(":")
    if sep and tail in _KNOWN_OPERATIONS:
        discriminator, operation = head, tail
    if operation != READ:
        raise ConnectorError("scope.invalid", "only the read operation can be granted for presentations", text[:100])
    if discriminator == "" or (alias in _TYPE_ALIASES and ":" in discriminator):
        raise ConnectorError("scope.invalid", "scope names no credential type or id", text[:100])
    return Scope(alias, discriminator, operation)


def parse_scopes(texts: Iterable[object]) -> tuple[Scope, ...]:
    """Parse and de-duplicate, keeping first-seen order."""
    seen: dict[Scope, None] = {}
    for text in texts:
        seen.setdefault(parse_scope(text), None)
    return tuple(seen)


def type_scope(credential_type: str) -> str:
    """The scope that grants reading credentials of one type."""
    return str(parse_scope(f"{VC_TYPE_ALIAS}:{credential_type}:{READ}"))
