"""Where an asset's bytes come from: files and folders, the provider's HTTP back end, SQLite queries."""

from connector.sources.base import (
    CHUNK_SIZE,
    DataStream,
    Source,
    SourceContext,
    SourceError,
    StreamInfo,
    http_status_for,
)
from connector.sources.registry import (
    SourceKind,
    SourceRegistry,
    build_source,
    default_registry,
    validate_source_config,
)

__all__ = [
    "CHUNK_SIZE",
    "DataStream",
    "Source",
    "SourceContext",
    "SourceError",
    "SourceKind",
    "SourceRegistry",
    "StreamInfo",
    "build_source",
    "default_registry",
    "http_status_for",
    "validate_source_config",
]
