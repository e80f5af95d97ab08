"""The DID documents an agreement's evidence bundle includes: ours, and the peer's when it can be fetched now
(best effort: they are evidence, not a need). Joins the store, the holder and the fetcher for evidence."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from connector.errors import ConnectorError
from connector.store.interface import Store
from connector.store.sql import processes as repo
from connector.trust.edge.fetching import Fetcher, FetchFailed
from connector.trust.edge.holder import Holder

log = logging.getLogger("connector.evidence")
MAX_DOCUMENT = 256 * 1024
FETCH_TIMEOUT = 5.0


class AgreementDocuments:
    def __init__(self, store: Store, holder: Holder, fetcher: Fetcher) -> None:
        self.store = store
        self.holder = holder
        self.fetcher = fetcher

    async def for_agreement(self, agreement_id: str) -> dict[str, Any]:
        from connector.trust.compact import strict_json  # with the first agreement signed
        from connector.trust.did import parse_did

        documents: dict[str, Any] = {}
        own = self.holder.did
        try:
            documents[own] = self.holder.document_json()
        except ConnectorError:
            pass
        agreement = await self.store.read(repo.get_agreement, agreement_id)
        if agreement is None:
            return documents
        peer = agreement.consumer_id if agreement.provider_id == own else agreement.provider_id
        try:
            raw = await asyncio.wait_for(self.fetcher.get(parse_did(peer).url, MAX_DOCUMENT), FETCH_TIMEOUT)
            document = strict_json(raw, "did.document_malformed", "the peer's DID document")
        except (TimeoutError, ConnectorError, FetchFailed) as exc:
            log.info("peer DID document not included: %s", exc, extra={"peer": peer})
            return documents
        if isinstance(document, dict) and document.get("id") == peer:
            documents[peer] = document
        return documents
