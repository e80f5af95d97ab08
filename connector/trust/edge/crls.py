"""Certificate revocation lists fetched over the network, from the distribution point each authority names.

Every CA the node trusts (its configured anchors and the CAs of the trust lists in force) whose certificate names
a CRL Distribution Point, and for which no CRL file is configured, has its CRL fetched from there over HTTPS (as
public material: without the node's certificate) and written to ``<data_dir>/crls/<CA sha256>.pem``, where the
TLS contexts load it (OpenSSL takes CRLs from files) and where the command line's pull client finds it too.

Freshness: a CRL is fetched again once it is `trust.crl_max_age` seconds old (a little before, with jitter, so
that nodes do not all ask at once): that is how long a revocation may go unseen. A fetch that fails is tried
again with exponential back-off and jitter (from a second up to the max age); meanwhile the copy in force stays
in force for `trust.crl_grace` seconds past its max age (logged as a warning at each failure), and never past
its own nextUpdate. After that the authority's revocation status is unknown: its participants are refused (the
TLS layer finds no CRL for them; requests get 503 with Retry-After), logged as an error until a CRL arrives.

A fetched CRL is used only if it verifies against the CA, has not expired, and does not go back (a lower CRL
number than the copy in force is refused: no rollback); another CRL under the number in force is put in force at
once, like a higher one. Copies written by an earlier run are used at start as
long as their age (the file's modification time is the fetch time) is within max age plus grace; one dated ahead
of the clock (the clock was set back since) counts as fetched now.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from connector import keys
from connector.errors import ConnectorError
from connector.pki.certificates import crl_url_of
from connector.trust.edge.fetching import FetchFailed
from connector.web.tls import TrustMaterial, crl_issuer_key

log = logging.getLogger("connector.trust")

Clock = Callable[[], datetime]
UrlFetch = Callable[[str, int], Awaitable[bytes]]
FOLDER = "crls"
MAX_CRL_BYTES = 8 * 1024 * 1024
FIRST_RETRY = 1.0


def crl_folder(data_dir: Path) -> Path:
    return Path(data_dir) / FOLDER


def fetched_crl_files(data_dir: Path) -> tuple[Path, ...]:
    """Every CRL file a node on this data folder fetched (the pull client loads them; stale ones are left out
    by their age)."""
    folder = crl_folder(data_dir)
    return tuple(sorted(folder.glob("*.pem"))) if folder.is_dir() else ()


def _number(crl: x509.CertificateRevocationList) -> int:
    try:
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        return -1


@dataclass
class CrlSource:
    """One authority's CRL, as fetched from its distribution point."""

    ca: x509.Certificate
    url: str
    path: Path
    crl: x509.CertificateRevocationList | None = None
    fetched_at: datetime | None = None  # of the copy in force
    failures: int = 0
    due: float = 0.0  # monotonic time of the next fetch
    last_error: str | None = None
    in_force: bool = False
    lapsed_logged: float = 0.0  # monotonic time the lapse was last logged

    @property
    def name(self) -> str:
        return self.ca.subject.rfc4514_string()

    def expires_at(self, max_age: timedelta, grace: timedelta) -> datetime | None:
        """When the copy in force stops being used: max age plus grace, or its own nextUpdate if sooner."""
        if self.crl is None or self.fetched_at is None:
            return None
        until = self.fetched_at + max_age + grace
        next_update = self.crl.next_update_utc
        return min(until, next_update) if next_update is not None else until

    def stale(self, now: datetime, max_age: timedelta) -> bool:
        return self.fetched_at is not None and now - self.fetched_at > max_age


class CrlKeeper:
    def __init__(
        self,
        data_dir: Path,
        max_age: float,
        grace: float,
        clock: Clock,
        fetch: UrlFetch | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = crl_folder(data_dir)
        self.max_age = timedelta(seconds=max_age)
        self.grace = timedelta(seconds=grace)
        self.clock = clock
        self.fetch = fetch
        self.monotonic = monotonic
        self.sources: dict[bytes, CrlSource] = {}  # CA subject DER -> source

    # --- what the TLS layer loads ------------------------------------------------------------------------------

    def paths(self) -> tuple[Path, ...]:
        """The fetched CRL files in force. Before the first `sync`, the files an earlier run fetched that are
        young enough (the TLS layer checks which CA each belongs to)."""
        if not self.sources:
            limit = (self.max_age + self.grace).total_seconds()
            now = time.time()
            found = []
            for path in self.folder.glob("*.pem") if self.folder.is_dir() else ():
                try:
                    if now - path.stat().st_mtime <= limit:
                        found.append(path)
                except OSError:
                    continue
            return tuple(sorted(found))
        return tuple(s.path for s in self.sources.values() if s.in_force)

    # --- which authorities --------------------------------------------------------------------------------------

    def sync(self, material: TrustMaterial) -> bool:
        """Follow the trusted CAs: a source for each CA with a distribution point and no configured CRL (a copy
        already on disk is taken up if it verifies and is young enough); those of CAs no longer trusted go.
        True if what is in force changed."""
        wanted: dict[bytes, tuple[x509.Certificate, str]] = {}
        for ca in material.cas:
            name = ca.subject.public_bytes()
            url = crl_url_of(ca)
            if url is not None and name not in material.configured_issuers:
                wanted[name] = (ca, url)
        changed = False
        for name in list(self.sources):
            if name not in wanted:
                changed |= self.sources.pop(name).in_force
        for name, (ca, url) in wanted.items():
            source = self.sources.get(name)
            if source is not None and source.url == url and source.ca == ca:
                continue
            digest = hashlib.sha256(ca.public_bytes(Encoding.DER)).hexdigest()
            source = CrlSource(ca, url, self.folder / f"{digest}.pem")
            self._take_up(source)
            self.sources[name] = source
            changed |= source.in_force
        return changed

    def _take_up(self, source: CrlSource) -> None:
        try:
            crl = x509.load_pem_x509_crl(source.path.read_bytes())
            fetched_at = datetime.fromtimestamp(source.path.stat().st_mtime, UTC)
        except (OSError, ValueError):
            return
        # A copy dated ahead of the clock (kept by a run whose clock was ahead, since set back) is no younger than
        # one fetched now: it must not stay in force, nor go unfetched, for as long as the clock was ahead.
        fetched_at = min(fetched_at, self.clock())
        if self._problem(source, crl) is None:
            source.crl, source.fetched_at = crl, fetched_at
            source.in_force = self._usable(source, self.clock())
            source.due = self._next_fetch(source)

    # --- fetching -------------------------------------------------------------------------------------------

    def _problem(self, source: CrlSource, crl: x509.CertificateRevocationList) -> str | None:
        if crl.issuer != source.ca.subject:
            return "it is not issued by the authority"
        try:
            if not crl.is_signature_valid(crl_issuer_key(source.ca)):
                return "its signature does not verify against the authority's certificate"
        except ConnectorError as exc:
            return exc.reason
        now = self.clock()
        if crl.next_update_utc is not None and crl.next_update_utc <= now:
            return f"it expired on {crl.next_update_utc:%Y-%m-%d %H:%M:%S}Z"
        if source.crl is not None and _number(crl) < _number(source.crl):
            return f"its CRL number {_number(crl)} is lower than that of the copy in force ({_number(source.crl)})"
        return None

    def _usable(self, source: CrlSource, now: datetime) -> bool:
        until = source.expires_at(self.max_age, self.grace)
        return until is not None and now < until

    def _next_fetch(self, source: CrlSource) -> float:
        """Due again a little before max age is reached (jitter: a fleet does not ask all at once)."""
        if source.fetched_at is None:
            return 0.0
        age = max(0.0, (self.clock() - source.fetched_at).total_seconds())  # a clock set back: no older than new
        wait = self.max_age.total_seconds() * random.uniform(0.8, 0.95) - age
        return self.monotonic() + max(0.0, wait)

    async def refresh(self, force: bool = False) -> bool:
        """Fetch every due CRL (concurrently); True if what is in force changed (the TLS layer then rebuilds)."""
        now_m = self.monotonic()
        due = [s for s in self.sources.values() if force or now_m >= s.due]
        renewed: list[bool] = []
        if due and self.fetch is not None:
            renewed = await asyncio.gather(*(self._fetch(s) for s in due))
        settled = self._settle()
        return any(renewed) or settled  # a new CRL counts at once: the revocation it brings must not wait

    async def _fetch(self, source: CrlSource) -> bool:
        """Fetch the source's CRL and put it in force if it holds; True if it is a new one (another number)."""
        assert self.fetch is not None
        try:
            data = await self.fetch(source.url, MAX_CRL_BYTES)
            try:
                crl = x509.load_pem_x509_crl(data)
            except ValueError:
                crl = x509.load_der_x509_crl(data)
        except (FetchFailed, ValueError) as exc:
            self._failed(source, str(exc) if isinstance(exc, FetchFailed) else "the answer is not a CRL")
            return False
        problem = self._problem(source, crl)
        if problem is not None:
            self._failed(source, f"the CRL fetched from {source.url} is refused: {problem}")
            return False
        previous = source.crl
        now = self.clock()
        stamp = now.timestamp()
        unchanged = previous is not None and previous.public_bytes(Encoding.DER) == crl.public_bytes(Encoding.DER)
        same = unchanged
        if same:  # the copy on disk is this CRL: only its age changes (no write, no sync on the event loop)
            try:
                os.utime(source.path, (stamp, stamp))
            except OSError:
                same = False  # gone from disk: written again
        if not same:  # the TLS layer reads the copy on disk: a CRL not kept there is not in force
            try:
                await asyncio.to_thread(self._keep, source.path, crl.public_bytes(Encoding.PEM), stamp)
            except OSError as exc:
                self._failed(source, f"the CRL fetched from {source.url} cannot be kept ({exc.strerror or exc})")
                return False
        if source.failures or source.last_error:
            log.info("CRL fetched again", extra={"authority": source.name, "after_failures": source.failures})
        source.crl, source.fetched_at = crl, now
        source.failures, source.last_error = 0, None
        source.due = self._next_fetch(source)
        if unchanged:  # the copy in force, fetched again: nothing changes
            return False
        # Another CRL under the same number (an authority that stopped between signing its CRL and recording the
        # number, and signed that number again) is put in force all the same: the revocations it adds must not wait.
        log.info(
            "CRL in force",
            extra={"authority": source.name, "number": _number(crl), "revoked": len(crl), "url": source.url},
        )
        return True

    def _keep(self, path: Path, pem: bytes, stamp: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        keys.write_public_file(path, pem)
        os.utime(path, (stamp, stamp))  # the file's age is the copy's age, for the next start

    def _failed(self, source: CrlSource, reason: str) -> None:
        source.failures += 1
        source.last_error = reason
        cap = max(FIRST_RETRY, self.max_age.total_seconds())
        delay = min(cap, FIRST_RETRY * 2 ** (source.failures - 1))
        source.due = self.monotonic() + random.uniform(delay / 2, delay)
        until = source.expires_at(self.max_age, self.grace)
        if until is not None and self.clock() < until:
            log.warning(
                "CRL not fetched; the copy in force stays until %s: %s",
                until.strftime("%Y-%m-%d %H:%M:%S"),
                reason,
                extra={"authority": source.name, "attempt": source.failures, "url": source.url},
            )
        elif source.failures == 1:
            log.warning("CRL not fetched: %s", reason, extra={"authority": source.name, "url": source.url})

    def _settle(self) -> bool:
        """Decide what is in force now; log a lapse loudly (once a minute while it lasts)."""
        now, now_m = self.clock(), self.monotonic()
        changed = False
        for source in self.sources.values():
            usable = self._usable(source, now)
            if usable != source.in_force:
                changed = True
                source.in_force = usable
            if not usable and now_m - source.lapsed_logged >= 60.0:
                source.lapsed_logged = now_m
                log.error(
                    "REVOCATION STATUS UNKNOWN: no valid CRL of %s (%s); its participants are refused until one "
                    "is fetched from %s",
                    source.name,
                    source.last_error or "none fetched yet",
                    source.url,
                    extra={"authority": source.name, "url": source.url},
                )
        return changed

    async def run(self, material: Callable[[], TrustMaterial], rebuild: Callable[[], object], tick: float) -> None:
        """Follow the trusted CAs and keep their CRLs fresh; `rebuild` the TLS layer when what is in force
        changes."""
        while True:
            await asyncio.sleep(tick)
            changed = self.sync(material())
            changed |= await self.refresh()
            if changed:
                rebuild()
