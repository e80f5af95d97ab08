"""connector: a federated data-connector node speaking the Dataspace Protocol 2025-1."""

__version__ = "0.1.0"

from connector import log as _log  # noqa: F401  (installs the logger class before any logger exists)
