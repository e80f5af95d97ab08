"""Building the DCAT documents a catalogue serves: a Catalog page and a single Dataset.

A dataset is offered under ODRL offers (`hasPolicy`) and reachable in one or more formats (`distribution`),
each through a DataService whose `endpointURL` is the node's DSP base URL. Inside a catalogue an offer carries
no `target`: the enclosing dataset is the target (DSP Catalog Protocol, ACK - Dataset).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connector.dsp.catalog_messages import Catalog, DataService, Dataset, Distribution
from connector.errors import ConnectorError


def data_service(service_id: str, endpoint_url: str) -> DataService:
    """The DataService of this node: where negotiations and transfers for its datasets start."""
    return DataService(id=service_id, endpoint_url=endpoint_url)


def catalog_offer(offer: Mapping[str, Any], dataset_id: str) -> dict[str, Any]:
    """`offer` as a catalogue lists it: typed `Offer`, without `target`.

    An offer whose `target` names another dataset is a bug upstream, and is refused rather than silently moved.
    """
    listed = dict(offer)
    target = listed.pop("target", dataset_id)
    if target != dataset_id:
        raise ConnectorError(
            "dsp.invalid_offer",
            f"offer {listed.get('@id')!r} targets {target!r} but is listed under dataset {dataset_id!r}",
            where="target",
        )
    if "@id" not in listed:
        raise ConnectorError("dsp.invalid_offer", f"an offer of dataset {dataset_id!r} has no @id", where="@id")
    listed.setdefault("@type", "Offer")
    return listed


def message_offer(offer: Mapping[str, Any], dataset_id: str) -> dict[str, Any]:
    """A catalogue offer as a ContractRequestMessage or ContractOfferMessage carries it: with `target` set to the
    dataset, which the spec requires there (the inverse of `catalog_offer`)."""
    listed = catalog_offer(offer, dataset_id)
    return {**listed, "target": dataset_id}


def build_dataset(
    dataset_id: str,
    *,
    offers: Sequence[Mapping[str, Any]],
    formats: Sequence[str],
    access_service: str | DataService,
    properties: Mapping[str, Any] | None = None,
) -> Dataset:
    """A Dataset with one Distribution per format.

    `access_service` is the DataService's id inside a Catalog (which lists the service once), or the DataService
    itself in a standalone Dataset response. `properties` are further DCAT terms (title, description, ...).
    """
    if not offers:
        raise ConnectorError(
            "dsp.invalid_dataset", f"dataset {dataset_id!r} has no offer; DSP requires one", where="hasPolicy"
        )
    if not formats:
        raise ConnectorError(
            "dsp.invalid_dataset", f"dataset {dataset_id!r} has no format to transfer it in", where="distribution"
        )
    return Dataset(
        id=dataset_id,
        has_policy=tuple(catalog_offer(offer, dataset_id) for offer in offers),
        distributions=tuple(Distribution(format=fmt, access_service=access_service) for fmt in formats),
        extensions=dict(properties or {}),
    )


def build_catalog(
    catalog_id: str,
    *,
    participant_id: str,
    services: Sequence[DataService],
    datasets: Sequence[Dataset],
    properties: Mapping[str, Any] | None = None,
) -> Catalog:
    """A top-level Catalog (one page of it, when paginated); `datasets` may be empty."""
    if not services:
        raise ConnectorError("dsp.invalid_catalog", "a catalogue must name at least one DataService", where="service")
    return Catalog(
        id=catalog_id,
        participant_id=participant_id,
        services=tuple(services),
        datasets=tuple(datasets),
        extensions=dict(properties or {}),
    )
