"""A catalogue page for a peer: 100 of 10,000 datasets, filtered for the peer's verified claims.

The provider's catalogue service (connector.control.catalog) over a SQLite store holding 10,000 assets, each with
an offer under an access policy of its own (a mix of four kinds, as in bench_policy.py: membership, country in a
region, credential type, another data space's membership; about three in four admit a member peer). Peers of three
classes of claims ask for pages (the first, or one further on through its cursor), each request with claims
verified afresh (a new claims object, as a new token gives). Figures, in CPU time of this process (one core):
- a page, median over the requests after the first of each class, and the first request of a class;
- reading the 10,000 definitions into the index once (after a change of definitions);
- baseline in the same run: the same page as the catalogue made it before, every offer decided for the peer
  (policies already parsed and cached), every dataset built, then the page taken.
Nothing asserted: figures beside the target (under 30 ms a page).

    python benchmarks/bench_catalogue.py [--datasets 10000] [--requests 60]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_policy import access_policy
from reporting import Figure, median, report

from connector.control.catalog import CatalogService, CatalogueSettings, _dcat_properties
from connector.control.decisions import PolicyDecisions
from connector.dsp import catalog_builder
from connector.dsp.pagination import encode_cursor, paginate
from connector.records.definitions import Asset, OfferDefinition, PolicyDefinition
from connector.store.sql import definitions as repo
from connector.store.sqlite import open_store
from connector.trust.claims import VerifiedClaims, VerifiedCredential

PAGE = 100
clock = time.process_time


def peer(index: int, kind: str) -> VerifiedClaims:
    """Claims of a member of the European data space in Germany or in France, or of the Japanese one in Japan
    (three classes)."""
    now = datetime.now(UTC)
    pid = f"did:web:example.com:peer-{index}"
    creds: list[VerifiedCredential] = []
    space, country = {"eu": ("eu-dataspace", "DE"), "fr": ("eu-dataspace", "FR"), "jp": ("jp-dataspace", "JP")}[kind]
    for types, subject in (
        ("MembershipCredential", {"id": pid, "memberOf": space}),
        ("OrganizationCredential", {"id": pid, "countryOfEstablishment": country, "legalName": f"Org {index}"}),
    ):
        creds.append(
            VerifiedCredential(
                f"urn:uuid:{types}-{index}",
                ("VerifiableCredential", types),
                "did:web:a",
                space,
                subject,
                now,
                None,
                "",
            )
        )
    return VerifiedClaims(pid, now, tuple(creds))


async def fill(store: Any, count: int) -> None:
    def write(tx: Any) -> None:
        repo.upsert_policy(tx, PolicyDefinition("use", {"permission": [{"action": "use"}]}))
        for i in range(count):
            asset = f"urn:uuid:dataset-{i:05d}"
            repo.upsert_policy(tx, PolicyDefinition(f"access-{i}", access_policy(i)))
            repo.insert_asset(tx, Asset(asset, title=f"Dataset {i}", keywords=("weather", "hourly")))
            repo.insert_offer(tx, OfferDefinition(f"offer-{i}", asset, "use", f"access-{i}"))

    await store.run(write)


def before(service: CatalogService, entries: list[Any], claims: VerifiedClaims, cursor: str | None) -> Any:
    """The page as the catalogue made it before: every offer decided, every dataset built, then the page taken."""
    now = datetime.now(UTC)
    by_asset: dict[str, tuple[Asset, list[dict[str, Any]]]] = {}
    for entry in entries:
        verdict = service.decisions.catalogue_visible(entry.access.policy if entry.access else None, claims, now)
        if verdict.permitted:
            by_asset.setdefault(entry.asset.id, (entry.asset, []))[1].append(entry.offer_json())
    service_id = service.service_id()
    datasets = [
        catalog_builder.build_dataset(
            a.id, offers=o, formats=a.formats, access_service=service_id, properties=_dcat_properties(a)
        )
        for a, o in by_asset.values()
    ]
    page = paginate(datasets, page_size=PAGE, cursor=cursor)
    return service.catalogue_document(list(page.items)).to_json()


async def run(datasets: int, requests: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-catalogue-") as tmp:
        store = await open_store(Path(tmp) / "store.db")
        try:
            await fill(store, datasets)
            settings = CatalogueSettings("did:web:example.com:provider", lambda: "https://localhost:8443/dsp", PAGE)
            service = CatalogService(store, None, PolicyDecisions(), settings)  # type: ignore[arg-type]
            start = clock()
            entries = await service.entries()
            first_index = clock() - start  # includes parsing each access policy for the first time
            service.invalidate()
            start = clock()
            await service.entries()
            index_seconds = clock() - start  # as after a change of definitions: the policies parsed already
            rng = random.Random(7)
            kinds = ["eu", "jp", "fr"]
            cursors = [None, *(encode_cursor(PAGE * n) for n in (1, 5, 20, 45))]  # within every listing
            firsts, pages, baselines = [], [], []
            for n in range(requests):
                kind = kinds[n % len(kinds)]
                cursor = rng.choice(cursors)
                claims = peer(n, kind)
                start = clock()
                document, _, _ = await service.catalogue_page(claims, cursor, "https://localhost:8443/dsp/catalog")
                took = clock() - start
                (firsts if n < len(kinds) else pages).append(took)
                if n % 6 == 0:  # the baseline is slow: every sixth request, interleaved
                    start = clock()
                    old = before(service, entries, peer(n, kind), cursor)
                    baselines.append(clock() - start)
                    assert old == document, "the page differs from the one the catalogue made before"
            sizes = [len((await service.listing(peer(0, k))).assets) for k in kinds]
        finally:
            await store.close()
    report(
        "catalogue page (bench_catalogue)",
        [
            Figure(
                f"a page of {PAGE} of {datasets:,}, median",
                median(pages) * 1000,
                "ms",
                30,
                "max",
                median(baselines) * 1000,
                98,
            ),
            Figure(
                "first page for a class of claims, median",
                median(firsts) * 1000,
                "ms",
                None,
                "max",
                median(baselines) * 1000,
            ),
            Figure(f"index of {datasets:,} offers after a change", index_seconds * 1000, "ms"),
        ],
        {
            "requests": requests,
            "datasets_visible_per_class": dict(zip(kinds, sizes)),
            "first_index_ms_with_parsing": round(first_index * 1000),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        },
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(run(args.datasets, args.requests))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
