"""Trust credentials in a running node: `attach(node)` wires the DCP edge into it.

What a node gets, when it has a TLS identity (not the plain-HTTP test profile):

- its DID document (open route, at the path its did:web DID resolves to) and its DCP credential service;
- the credentials named in ``[identity] credentials``, loaded into the store at start;
- an ID token (with an access token for its credential service) on every DSP request it sends;
- and, when ``[[trust.lists]]`` are configured and the TCK profile is off, the DCP authenticator: every DSP
  request it receives is verified (token, DID document, presentation, credentials, status) against the trust
  lists of the federations it recognises, whose CA certificates also become TLS anchors.

Without trust lists (or in the TCK profile) the authenticator stays as the control plane set it (the
certificate alone identifies the peer), and the node says once that credentials are not verified.

Background work: trust list files are re-read when they change, URLs fetched every ``list_refresh``, expired
lists dropped from TLS, the replay cache and old verification records purged, and records of verified requests
that no replay transaction took along written (within RECORD_DELAY, before they are listed, and at stop).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from connector.errors import ConnectorError
from connector.trust.edge import repository as repo
from connector.trust.edge.authenticator import DcpAuthenticator
from connector.trust.edge.fetching import Fetcher
from connector.trust.edge.holder import Holder
from connector.trust.edge.trust_lists import MAX_LIST_BYTES, TrustListKeeper
from connector.trust.tokens import DEFAULT_MAX_LIFETIME

if TYPE_CHECKING:
    from connector.node.runtime import Node

log = logging.getLogger("connector.trust")
MAINTENANCE_INTERVAL = 60.0
# How long a verified request's record may wait for a transaction to share before it is written on its own.
RECORD_DELAY = 0.2


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TrustEdge:
    """Everything the trust subsystem holds for one node."""

    def __init__(self, node: Node, clock: Callable[[], datetime] = _utcnow) -> None:
        config = node.config
        self.node = node
        self.clock = clock
        self.holding = not config.protocol.insecure_http and not config.tck.enabled
        self.verifying = self.holding and bool(config.trust.lists)
        self.replay = repo.StoreReplayCache()
        self.fetcher = Fetcher(node, clock)
        self.keeper = TrustListKeeper(config.trust.lists, config.trust.list_refresh, clock)
        self.holder = Holder(node, self.fetcher, self.replay, clock)
        self.holder.on_outcome = self.record
        self.pending = repo.PendingRecords()
        self._flush: asyncio.Task[None] | None = None
        self.authenticator: DcpAuthenticator | None = None
        self._ca_fingerprint: frozenset[bytes] = frozenset()
        self._preloaded_cas: frozenset[bytes] = frozenset()  # what the node's TLS was built with at start

    # --- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self, node: Node) -> None:
        if self.holding:
            await self.holder.load_credentials()
            lifetime = timedelta(seconds=node.config.trust.token_lifetime)
            if lifetime > DEFAULT_MAX_LIFETIME:
                log.warning(
                    "trust.token_lifetime is longer than peers accept by default; they may refuse our tokens",
                    extra={
                        "token_lifetime_s": lifetime.total_seconds(),
                        "accepted_s": DEFAULT_MAX_LIFETIME.total_seconds(),
                    },
                )
        if not self.verifying:
            return
        await self.keeper.load(node.store, self._fetch_list)
        self._ca_fingerprint = self._cas()
        if self._ca_fingerprint != self._preloaded_cas:
            self._rebuild_tls()
        self.authenticator = DcpAuthenticator(
            node,
            self.keeper,
            self.fetcher,
            self.holder,
            self.replay,
            self.clock,
            self.record,
            self.pending,
            self.record_soon,
        )
        node.control.authenticator = self.authenticator

    async def ready(self, node: Node) -> None:
        if self.verifying:
            node.spawn(self._refresh_loop(), "trust-lists")
        else:
            config = node.config
            why = (
                "the TCK profile is on"
                if config.tck.enabled
                else "the protocol listener is plain HTTP"
                if config.protocol.insecure_http
                else "no [[trust.lists]] are configured"
            )
            log.warning(
                "peers' credentials are not verified (%s): the TLS certificate alone identifies a peer",
                why,
                extra={"participant_id": node.participant_id},
            )
        if self.holding:
            node.spawn(self._maintenance_loop(), "trust-maintenance")

    # --- records --------------------------------------------------------------------------------------------------

    async def record(self, record: repo.VerificationRecord) -> None:
        """Write a record now (with any waiting ones before it, so that the table stays in order)."""
        store = self.node.store
        if store is None:
            return
        self.pending.add(record)
        await store.run(self.pending.write)

    def record_soon(self, record: repo.VerificationRecord) -> None:
        """Write a record with the next transaction the verifier runs, or within RECORD_DELAY."""
        self.pending.add(record)
        if self._flush is None or self._flush.done():
            self._flush = self.node.spawn(self._flush_later(), "trust-records")

    async def _flush_later(self) -> None:
        await asyncio.sleep(RECORD_DELAY)
        await self.flush_records()

    async def flush_records(self) -> None:
        """Write every waiting record (before the records are read, and at stop)."""
        store = self.node.store
        if store is not None and len(self.pending):
            await store.run(self.pending.write)

    async def stop(self, node: Node) -> None:
        try:
            await self.flush_records()
        except (ConnectorError, sqlite3.Error) as exc:  # the store is failing: the log has every outcome
            log.warning("verification records not written at stop: %s", exc)

    # --- trust lists -------------------------------------------------------------------------------------------

    async def _fetch_list(self, url: str) -> bytes:
        return await self.fetcher.get(url, MAX_LIST_BYTES)

    def ca_source(self) -> list[x509.Certificate]:
        """`node.ca_sources` entry: CA certificates of the trust lists valid now."""
        certs = self.keeper.ca_certificates()
        if not self.keeper.states:
            self._preloaded_cas = frozenset(_der(c) for c in certs)
        return certs

    def _cas(self) -> frozenset[bytes]:
        return frozenset(_der(c) for c in self.keeper.ca_certificates())

    def _rebuild_tls(self) -> None:
        """New TLS anchors for listeners and the outgoing session (as the node does when its trust files change)."""
        self.node.reload_trust()

    async def refresh(self, force_url: bool = False) -> bool:
        """Re-read trust lists now; True if a kept copy changed. TLS anchors follow expiry and replacement."""
        changed = await self.keeper.refresh(self.node.store, self._fetch_list, time.monotonic(), force_url)
        if changed:
            if self.authenticator is not None:
                self.authenticator.forget_presentations()
        cas = self._cas()
        if cas != self._ca_fingerprint:
            self._ca_fingerprint = cas
            try:
                self._rebuild_tls()
            except ConnectorError as exc:
                log.error(
                    "trust lists changed but the TLS anchors cannot follow: %s",
                    exc.reason,
                    extra={"code": exc.code, "where": exc.where},
                )
        return changed

    async def _refresh_loop(self) -> None:
        interval = self.node.config.trust.reload_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except (ConnectorError, sqlite3.Error, OSError) as exc:  # try again next time; the kept copies hold
                log.error("trust list refresh failed: %s", exc, extra={"code": getattr(exc, "code", None)})

    async def _maintenance_loop(self) -> None:
        while True:
            await asyncio.sleep(MAINTENANCE_INTERVAL)
            store = self.node.store
            if store is None:
                return
            try:
                await store.run(repo.purge_replay, self.clock())
                await store.run(repo.prune_verifications)
            except (ConnectorError, sqlite3.Error) as exc:  # the store is closing or busy: next round
                log.warning("trust maintenance skipped: %s", exc)

    # --- for operators and tests -----------------------------------------------------------------------------

    def forget_caches(self) -> None:
        """Cold caches: DID documents, status lists and reusable presentations are fetched again."""
        self.fetcher.clear()
        if self.authenticator is not None:
            self.authenticator.forget_presentations()


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def edge_of(node: Node) -> TrustEdge | None:
    return getattr(node, "trust_edge", None)


def attach(node: Node) -> None:
    """Add the trust edge to a node before it starts (hooks, routes, TLS anchors, outgoing tokens)."""
    from connector.trust.edge import routes

    edge = TrustEdge(node)
    node.trust_edge = edge
    node.management_routes.extend(routes.management_routes(edge))
    if edge.holding:
        node.protocol_routes.extend(routes.protocol_routes(edge))
        node.outgoing_auth = edge.holder.authorization_for
    if edge.verifying:
        node.ca_sources.append(edge.ca_source)
    node.start_hooks.append(edge.start)
    node.ready_hooks.append(edge.ready)
    node.stop_hooks.append(edge.stop)
