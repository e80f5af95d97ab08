"""Trust in a running node: its verification records, and the lifecycle of what the composition root built.

What a node gets, when it has a TLS identity (not the plain-HTTP test profile):

- its DID document (open route, at the path its did:web DID resolves to) and its DCP credential service
  (`Holder`), with the credentials named in ``[identity] credentials`` loaded into the store at start;
- an ID token (with an access token for its credential service) on every DSP request it sends;
- and, when ``[[trust.lists]]`` are configured and the TCK profile is off, the DCP verifier (`DcpAuthenticator`):
  every DSP request it receives is verified (token, DID document, presentation, credentials, status) against the
  trust lists of the federations it recognises, whose CA certificates also become TLS anchors.

Background work: trust list files are re-read when they change, URLs fetched every ``list_refresh``, expired
lists dropped from TLS, the CRLs of the trusted authorities fetched from their distribution points
(`connector.trust.edge.crls`), the freshness of all that material watched (`connector.trust.edge.freshness`),
the replay cache and old verification records purged, and records of verified requests that no replay
transaction took along written (within RECORD_DELAY, before they are listed, and at stop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from connector.config import TrustSection
from connector.errors import ConnectorError
from connector.identity import NodeIdentity
from connector.records.trust import VerificationRecord
from connector.store.errors import StoreError
from connector.store.interface import Store, Tx
from connector.store.sql import trust as repo
from connector.tasks import Tasks
from connector.trust.edge.crls import CrlKeeper
from connector.trust.edge.fetching import Fetcher
from connector.trust.edge.freshness import Freshness, FreshnessWatch, assess
from connector.trust.edge.holder import Holder
from connector.trust.edge.issuance import CredentialIssuance
from connector.trust.edge.trust_lists import MAX_LIST_BYTES, TrustListKeeper
from connector.trust.times import DEFAULT_MAX_TOKEN_LIFETIME, parse_datetime
from connector.web.tls import PeerTls

if TYPE_CHECKING:
    from connector.trust.edge.authenticator import DcpAuthenticator

log = logging.getLogger("connector.trust")
MAINTENANCE_INTERVAL = 60.0
FIRST_CRL_FETCH = 5.0  # seconds a start waits for the CRLs of the trusted authorities (then they keep coming)
# How long a verified request's record may wait for a transaction to share before it is written on its own.
RECORD_DELAY = 0.2


class PendingRecords:
    """Verification records waiting to be written, oldest first; at most `max_entries` (beyond, the oldest go).

    The verifier appends on the event loop; `write` drains on the store thread, inside a transaction the verifier
    runs anyway (a token's replay record) or a flush of its own. A deque: append and popleft are atomic, so a
    record is written once, and one not taken by a transaction that never ran stays for the next. A transaction
    that fails takes its records with it (the store is failing; every outcome's log line is written regardless).
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._queue: deque[VerificationRecord] = deque(maxlen=max_entries)

    def add(self, record: VerificationRecord) -> None:
        self._queue.append(record)

    def __len__(self) -> int:
        return len(self._queue)

    def write(self, tx: Tx) -> int:
        """Insert every waiting record (store thread); how many were written."""
        written = 0
        while True:
            try:
                record = self._queue.popleft()
            except IndexError:
                return written
            repo.record_verification(tx, record)
            written += 1


class VerificationLog:
    """Verification outcomes on their way to the store, in the order they happened: written with the next
    transaction the verifier runs anyway, or on their own within RECORD_DELAY (refusals at once)."""

    def __init__(self, store: Store, tasks: Tasks) -> None:
        self.store = store
        self.tasks = tasks
        self.pending = PendingRecords()
        self._flush: asyncio.Task[None] | None = None
        # The latest outcomes in memory, (monotonic time, refused code or None), for the health probe.
        self.latest: deque[tuple[float, str | None]] = deque(maxlen=1000)

    def _note(self, record: VerificationRecord) -> None:
        self.latest.append((time.monotonic(), record.code if record.outcome != "verified" else None))

    def since(self, seconds: float) -> list[str | None]:
        """The outcomes of the last `seconds` (None: verified; else the refusal's code), oldest first."""
        cutoff = time.monotonic() - seconds
        return [code for at, code in self.latest if at >= cutoff]

    async def record(self, record: VerificationRecord) -> None:
        """Write a record now (with any waiting ones before it, so that the table stays in order)."""
        self._note(record)
        self.pending.add(record)
        await self.store.run(self.pending.write)

    def record_soon(self, record: VerificationRecord) -> None:
        """Write a record with the next transaction the verifier runs, or within RECORD_DELAY."""
        self._note(record)
        self.pending.add(record)
        if self._flush is None or self._flush.done():
            self._flush = self.tasks.spawn(self._flush_later(), "trust-records")

    async def _flush_later(self) -> None:
        await asyncio.sleep(RECORD_DELAY)
        await self.flush()

    async def flush(self) -> None:
        """Write every waiting record (before the records are read, and at stop)."""
        if len(self.pending):
            await self.store.run(self.pending.write)


@dataclass(frozen=True)
class Expiry:
    """When a piece of trust material stops being usable: `kind` certificate (the node's own: tls, signing), ca,
    crl, trust_list, status_list or credential (the node's own), `name` which one."""

    kind: str
    name: str
    at: datetime


class TrustService:
    """Holding (`holder`, None in the plain-HTTP and TCK profiles) and verifying (`authenticator`, None without
    trust lists) for one node, and the background work both need."""

    def __init__(
        self,
        *,
        settings: TrustSection,
        store: Store,
        tasks: Tasks,
        keeper: TrustListKeeper,
        records: VerificationLog,
        fetcher: Fetcher | None = None,
        holder: Holder | None = None,
        authenticator: DcpAuthenticator | None = None,
        tls: PeerTls | None = None,
        clock: Callable[[], datetime],
        issuance: CredentialIssuance | None = None,
        crls: CrlKeeper | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.tasks = tasks
        self.keeper = keeper
        self.records = records
        self.fetcher = fetcher
        self.holder = holder
        self.authenticator = authenticator
        self.tls = tls
        self.clock = clock
        self.issuance = issuance
        self.crls = crls
        self.watch = FreshnessWatch(self.freshness)
        self._ca_fingerprint: frozenset[bytes] = frozenset()

    @property
    def holding(self) -> bool:
        return self.holder is not None

    @property
    def verifying(self) -> bool:
        return self.authenticator is not None

    # --- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Before the listeners open: our credentials loaded, the trust lists loaded and the TLS anchors on them."""
        if self.holder is not None:
            await self.holder.load_credentials()
            lifetime = timedelta(seconds=self.settings.token_lifetime)
            if lifetime > DEFAULT_MAX_TOKEN_LIFETIME:  # what peers accept by default (DCP's and ours)
                log.warning(
                    "trust.token_lifetime is longer than peers accept by default; they may refuse our tokens",
                    extra={
                        "token_lifetime_s": lifetime.total_seconds(),
                        "accepted_s": DEFAULT_MAX_TOKEN_LIFETIME.total_seconds(),
                    },
                )
        if self.verifying:
            preloaded = self._cas()  # what the TLS anchors were built with (from the list files alone)
            await self.keeper.load(self.store, self._fetch_list)
            if self.authenticator is not None:
                self.authenticator.recognitions.load(self.keeper.trust_store(), self.clock())
            self._ca_fingerprint = self._cas()
            if self._ca_fingerprint != preloaded:
                self._rebuild_tls()
        await self._first_crls()

    async def _first_crls(self) -> None:
        """The CRLs of every trusted authority that publishes one, before peers can reach us (a short wait: an
        authority that does not answer yet has its participants refused until it does)."""
        if self.crls is None or self.tls is None or self.fetcher is None:
            return
        changed = self.crls.sync(self.tls.material)
        try:
            changed |= await asyncio.wait_for(self.crls.refresh(force=True), FIRST_CRL_FETCH)
        except TimeoutError:
            changed = True
        if changed:
            self.tls.try_rebuild()

    def run(self) -> None:
        """Once listening: refresh the trust lists and CRLs, watch what expires, and keep the replay cache and
        verification records trim."""
        if self.verifying:
            self.tasks.spawn(self._refresh_loop(), "trust-lists")
        if self.holding:
            self.tasks.spawn(self._maintenance_loop(), "trust-maintenance")
        if self.crls is not None and self.tls is not None and self.fetcher is not None:
            tls = self.tls
            self.tasks.spawn(
                self.crls.run(lambda: tls.material, tls.try_rebuild, min(1.0, self.settings.reload_interval)),
                "trust-crls",
            )
        if self.holding:
            self.tasks.spawn(self.watch.run(), "trust-freshness")

    def freshness(self) -> Freshness:
        """When each piece of trust material the node depends on expires, and whether it is still usable."""
        return assess(
            self.clock(),
            timedelta(seconds=self.settings.expiry_warning),
            self.holder.identity if self.holder is not None else None,
            self.holder.credentials if self.holder is not None else (),
            self.keeper if self.verifying else None,
            self.tls.material if self.tls is not None else None,
            self.crls,
        )

    async def stop(self) -> None:
        try:
            await self.records.flush()
        except (ConnectorError, StoreError) as exc:  # the store is failing: the log has every outcome
            log.warning("verification records not written at stop: %s", exc)

    # --- trust lists -------------------------------------------------------------------------------------------

    async def _fetch_list(self, url: str) -> bytes:
        assert self.fetcher is not None
        return await self.fetcher.get(url, MAX_LIST_BYTES)

    def _cas(self) -> frozenset[bytes]:
        return frozenset(_der(c) for c in self.keeper.ca_certificates())

    def _rebuild_tls(self) -> None:
        """New TLS anchors for listeners and the outgoing session (as the node does when its trust files change)."""
        if self.tls is not None:
            self.tls.rebuild()

    async def refresh(self, force_url: bool = False) -> bool:
        """Re-read trust lists now; True if a kept copy changed. TLS anchors follow expiry and replacement."""
        changed = await self.keeper.refresh(self.store, self._fetch_list, time.monotonic(), force_url)
        if changed and self.authenticator is not None:
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
        while True:
            await asyncio.sleep(self.settings.reload_interval)
            try:
                await self.refresh()
            except (ConnectorError, StoreError, OSError) as exc:  # try again next time; the kept copies hold
                log.error("trust list refresh failed: %s", exc, extra={"code": getattr(exc, "code", None)})

    async def _maintenance_loop(self) -> None:
        while True:
            await asyncio.sleep(MAINTENANCE_INTERVAL)
            try:
                await self.store.run(repo.purge_replay, self.clock())
                await self.store.run(repo.prune_verifications)
            except (ConnectorError, StoreError) as exc:  # the store is closing or busy: next round
                log.warning("trust maintenance skipped: %s", exc)

    # --- for operators and tests -----------------------------------------------------------------------------

    def expiries(self, identity: NodeIdentity | None) -> list[Expiry]:
        """When each piece of trust material in force runs out: the node's own certificates and credentials, the
        CAs and CRLs it trusts, the trust lists it keeps and the status lists it holds."""
        found: dict[tuple[str, str], datetime] = {}
        if identity is not None:
            found["certificate", "tls"] = identity.tls_cert.not_valid_after_utc
            found["certificate", "signing"] = identity.signing_cert.not_valid_after_utc
        if self.tls is not None:
            for ca in self.tls.material.cas:
                found["ca", ca.subject.rfc4514_string()] = ca.not_valid_after_utc
            for crl in self.tls.material.crls:
                if crl.next_update_utc is not None:
                    found["crl", crl.issuer.rfc4514_string()] = crl.next_update_utc
        for state in self.keeper.states:
            if state.current is not None:
                found["trust_list", state.current.federation_name] = state.current.valid_until
        if self.fetcher is not None:
            for url, until in self.fetcher.cached_status_lists():
                found["status_list", url] = until
        for credential in self.holder.credentials if self.holder is not None else ():
            if credential.valid_until is not None:
                kind = next((t for t in credential.types if t != "VerifiableCredential"), "VerifiableCredential")
                at = parse_datetime(credential.valid_until, "credential.invalid", "validUntil")
                found["credential", f"{kind} {credential.id}"] = at
        return [Expiry(kind, name, at) for (kind, name), at in sorted(found.items())]

    def forget_caches(self) -> None:
        """Cold caches: DID documents, status lists and reusable presentations are fetched again."""
        if self.fetcher is not None:
            self.fetcher.clear()
        if self.authenticator is not None:
            self.authenticator.forget_presentations()


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)
