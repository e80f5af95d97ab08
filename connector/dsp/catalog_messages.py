"""Catalog protocol messages and the DCAT documents a catalogue answers with.

Offers (`hasPolicy`) stay plain ODRL JSON objects: the policy engine owns their meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from connector.dsp.wire import (
    CODE,
    JSON_LIST,
    MESSAGE_ID,
    REASON,
    Field,
    JsonListCodec,
    Message,
    Node,
    NodeListCodec,
    NodeOrTextCodec,
)
from connector.errors import Problem


@dataclass(frozen=True, kw_only=True)
class CatalogRequestMessage(Message):
    TYPE: ClassVar[str] = "CatalogRequestMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, Field("filter", "filter", JsonListCodec(empty_is_absent=False)))
    message_id: str | None = None
    filter: tuple[Any, ...] | None = None  # implementation-specific expressions; None when absent


@dataclass(frozen=True, kw_only=True)
class DatasetRequestMessage(Message):
    TYPE: ClassVar[str] = "DatasetRequestMessage"
    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, Field("dataset", "dataset"))
    dataset: str
    message_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Distribution(Node):
    TYPE: ClassVar[str] = "Distribution"
    format: str
    access_service: str | DataService  # the id of a DataService listed in the catalogue, or the service itself
    has_policy: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Dataset(Message):
    """A DCAT dataset: the answer to a DatasetRequestMessage, or an entry of a Catalog."""

    TYPE: ClassVar[str] = "Dataset"
    id: str
    has_policy: tuple[Mapping[str, Any], ...]  # ODRL offers, without `target`
    distributions: tuple[Distribution, ...]


@dataclass(frozen=True, kw_only=True)
class DataService(Node):
    TYPE: ClassVar[str] = "DataService"
    id: str
    endpoint_url: str  # the DSP base URL where negotiations and transfers for the datasets start
    serves_dataset: tuple[Dataset, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Catalog(Message):
    """A DCAT catalogue; at top level it names the provider (`participantId`) and at least one DataService."""

    TYPE: ClassVar[str] = "Catalog"
    id: str
    participant_id: str | None = None  # required at top level, absent in nested catalogues
    services: tuple[DataService, ...] = ()
    datasets: tuple[Dataset, ...] = ()  # may be empty: an empty page or a requester who may see nothing
    catalogs: tuple[Catalog, ...] = ()
    distributions: tuple[Distribution, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CatalogError(Message):
    TYPE: ClassVar[str] = "CatalogError"
    WIRE: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, CODE, REASON)
    message_id: str | None = None
    code: str | None = None
    reason: tuple[Any, ...] = ()

    @classmethod
    def from_problem(cls, problem: Problem) -> CatalogError:
        return cls(code=problem.code, reason=(str(problem),))


# Layouts that refer to classes defined later in this module.
Distribution.WIRE = (
    Field("format", "format"),
    Field("accessService", "access_service", NodeOrTextCodec(DataService)),
    Field("hasPolicy", "has_policy", JSON_LIST),
)
Dataset.WIRE = (
    Field("@id", "id"),
    Field("hasPolicy", "has_policy", JSON_LIST),
    Field("distribution", "distributions", NodeListCodec(Distribution)),
)
DataService.WIRE = (
    Field("@id", "id"),
    Field("endpointURL", "endpoint_url"),
    Field("servesDataset", "serves_dataset", NodeListCodec(Dataset)),
)
Catalog.WIRE = (
    Field("@id", "id"),
    Field("participantId", "participant_id"),
    Field("service", "services", NodeListCodec(DataService)),
    Field("dataset", "datasets", NodeListCodec(Dataset)),
    Field("catalog", "catalogs", NodeListCodec(Catalog)),
    Field("distribution", "distributions", NodeListCodec(Distribution)),
)
