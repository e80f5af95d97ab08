"""The error type of the evidence package.

Every refusal carries a stable dotted code (``chain.*``, ``inclusion.*``, ``checkpoint.*``, ``certpath.*``,
``signer.*``, ``timestamp.*``, ``agreement.*``) so an auditor's tool can tell *which* proof failed, not merely that
one did.
"""

from __future__ import annotations

from connector.errors import ConnectorError


class EvidenceError(ConnectorError):
    """A piece of evidence that cannot be made or accepted; `code` says which check failed."""
