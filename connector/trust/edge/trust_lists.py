"""The trust lists a node recognises: loaded from files and URLs, verified against pinned anchors, kept.

Each ``[[trust.lists]]`` entry pins one federation root. Candidates come from the entry's file (at start and
whenever it changes) and its url (at start if nothing else is valid, then every ``trust.list_refresh``). The core's
`choose_copy` decides whether a candidate replaces the copy kept in the store: only a valid list of the same
federation with a higher sequence does, so neither an older list nor a second list under the same sequence
number ever takes over. The kept copy is what the node uses when file and url give nothing valid (offline).

At start, an entry without any valid copy (file expired, forged, badly signed, and nothing kept) stops the node
with an error naming the entry's key. Later, a refused candidate is logged and shown on the management API, and
the kept copy stays in force until it expires; an expired list no longer vouches for anything.

A list is either form the core reads (the signed JSON list, or an ETSI TS 119 612 trusted list in XML). An entry
with a ``territory`` pins the EU list of trusted lists (LOTL): its candidate is the LOTL (from the file or url)
together with the member state's list it points to (from ``territory_file``, else fetched from the location the
LOTL names), verified as a pair and kept as one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from connector import keys
from connector.backoff import Backoff, jittered
from connector.config import TrustListEntry
from connector.errors import ConfigError, ConnectorError, Problem
from connector.records.trust import KeptList
from connector.store.sql import trust as repo
from connector.trust.edge.fetching import FetchFailed
from connector.trust.times import format_datetime, parse_datetime

if TYPE_CHECKING:  # the lists' own modules load with the first list (a node with none never needs them)
    from connector.trust.services import TrustService
    from connector.trust.trust_list import TrustList, TrustStore

log = logging.getLogger("connector.trust")

Clock = Callable[[], datetime]
UrlFetch = Callable[[str], Awaitable[bytes]]
# Member states' ETSI lists run to several megabytes: etsi.MAX_ETSI_LIST_LENGTH, without loading the XML libraries
# that module needs (only lists in ETSI form do).
MAX_LIST_BYTES = 16 * 1024 * 1024
RETRY_INITIAL = 5.0  # seconds before a trust list url that failed is fetched again (doubling)


def _stat(path: Path | None) -> tuple[int, int]:
    if path is None:
        return 0, 0
    try:
        st = path.stat()
        return st.st_mtime_ns, st.st_size
    except OSError:
        return -1, -1


def _sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


@dataclass
class ListState:
    """One configured entry and what is known about it."""

    index: int
    entry: TrustListEntry
    anchor: x509.Certificate
    current: TrustList | None = None  # the kept copy (possibly expired)
    source: str | None = None  # where the kept copy came from: file, url or store
    problem: Problem | None = None  # why the last candidate was refused
    problem_at: datetime | None = None
    unreachable_since: datetime | None = None  # the url has not answered since (None: it did at the last fetch)
    file_stamp: tuple[int, int, int, int] = (-2, -2, -2, -2)
    url_due: float = 0.0  # monotonic time of the next url fetch
    retry: Backoff | None = None  # after a failed url fetch: when to try again (doubling up to the refresh interval)

    @property
    def key(self) -> str:
        return f"trust.lists[{self.index}]"

    @property
    def anchor_sha256(self) -> str:
        return _sha256(self.anchor)

    @property
    def stamp(self) -> tuple[int, int, int, int]:
        return _stat(self.entry.file) + _stat(self.entry.territory_file)

    def verify(self, text: str, anchor: x509.Certificate, now: datetime) -> TrustList:
        """A candidate or kept copy of this entry: a list, or (with a territory) a LOTL and member state pair."""
        if self.entry.territory:
            from connector.trust import etsi

            return etsi.verify_member_pair(text, anchor, self.entry.territory, now)
        from connector.trust.trust_list import verify_trust_list

        return verify_trust_list(text, anchor, now)

    def usable(self, now: datetime) -> bool:
        return self.current is not None and self.current.valid_at(now)

    def to_api(self, now: datetime) -> dict[str, Any]:
        c = self.current
        return {
            "key": self.key,
            "file": str(self.entry.file),
            "url": self.entry.url or None,
            "anchorSha256": self.anchor_sha256,
            "federationId": c.federation_id if c else None,
            "federationName": c.federation_name if c else None,
            "sequence": c.sequence if c else None,
            "validFrom": format_datetime(c.valid_from) if c else None,
            "validUntil": format_datetime(c.valid_until) if c else None,
            "state": "valid"
            if self.usable(now)
            else ("expired" if c is not None and now >= c.valid_until else "unusable"),
            "source": self.source,
            "format": c.format if c else None,
            "territory": self.entry.territory or None,
            "issuers": [
                {"did": i.did, "name": i.name, "credentialTypes": sorted(i.credential_types)}
                for i in (c.issuers if c else ())
            ],
            "services": [_service_api(s) for s in (c.services if c else ())],
            "lastProblem": None
            if self.problem is None
            else {
                "code": self.problem.code,
                "reason": self.problem.reason,
                "at": format_datetime(self.problem_at) if self.problem_at else None,
            },
        }


def _service_api(service: TrustService) -> dict[str, Any]:
    current = service.history.current
    return {
        "type": service.type,
        "kind": service.kind,
        "name": service.name,
        "provider": service.provider,
        "status": current.status if current else None,
        "statusSince": format_datetime(current.since) if current else None,
        "accredited": service.history.approved_now,
        "history": [{"status": h.status, "since": format_datetime(h.since)} for h in service.history.changes],
        "certificateSha256": [_sha256(cert) for cert in service.certificates],
        "issuer": service.issuer_did,
    }


def _reread(state: ListState, kept: KeptList, now: datetime) -> TrustList | None:
    """The kept copy as a TrustList, even if it has expired since (it still guards against rollback)."""
    anchor = state.anchor
    try:
        return state.verify(kept.jws, anchor, now)
    except ConnectorError as exc:
        if exc.code != "trust_list.expired":
            log.error(
                "the kept copy of a trust list no longer verifies; ignoring it",
                extra={"federation": kept.federation_id, "code": exc.code},
            )
            return None
    try:
        # Verified as of the last moment it was valid: same signature and anchor checks, no time refusal.
        last_valid = parse_datetime(kept.valid_until, "trust_list.malformed", "validUntil") - timedelta(seconds=1)
        return state.verify(kept.jws, anchor, last_valid)
    except ConnectorError:
        return None


class TrustListKeeper:
    def __init__(self, entries: tuple[TrustListEntry, ...], refresh_interval: float, clock: Clock) -> None:
        self.entries = entries
        self.refresh_interval = refresh_interval
        self.clock = clock
        self.states: list[ListState] = []
        self._preloaded: list[TrustList] | None = None
        self._store: TrustStore | None = None

    # --- what the node uses -----------------------------------------------------------------------------------

    def trust_store(self) -> TrustStore:
        """Every kept copy (the verifier restricts it to the lists valid at the moment it checks)."""
        lists = tuple(s.current for s in self.states if s.current is not None)
        kept = self._store
        # The same object while the kept copies are the same objects: what it works out once is kept with it.
        if kept is None or len(kept.lists) != len(lists) or any(a is not b for a, b in zip(kept.lists, lists)):
            from connector.trust.trust_list import TrustStore

            kept = self._store = TrustStore(lists)
        return kept

    def expired_federations(self, now: datetime) -> list[str]:
        return [s.current.federation_name for s in self.states if s.current is not None and not s.usable(now)]

    def ca_certificates(self) -> list[x509.Certificate]:
        """CA certificates of the lists valid now (for TLS). Before the store is open, from the files alone."""
        now = self.clock()
        if not self.states:
            if self._preloaded is None:
                self._preloaded = self._preload(now)
            lists = [t for t in self._preloaded if t.valid_at(now)]
        else:
            lists = [s.current for s in self.states if s.current is not None and s.usable(now)]
        unique: dict[bytes, x509.Certificate] = {}
        for t in lists:
            for cert in t.ca_certificates:
                unique.setdefault(cert.public_bytes(Encoding.DER), cert)
        return list(unique.values())

    def _preload(self, now: datetime) -> list[TrustList]:
        found = []
        for entry in self.entries:
            try:
                text = entry.file.read_text(encoding="utf-8").strip()
                anchor = keys.load_certificate(entry.anchor)
                if entry.territory and entry.territory_file is not None:
                    from connector.trust import etsi

                    member = entry.territory_file.read_text(encoding="utf-8").strip()
                    found.append(etsi.verify_member_list(text, anchor, entry.territory, member, now))
                elif not entry.territory:
                    from connector.trust.trust_list import verify_trust_list

                    found.append(verify_trust_list(text, anchor, now))
            except (ConnectorError, OSError, UnicodeDecodeError):
                continue  # the start hook reports it properly (a member list to fetch: the start hook fetches it)
        return found

    # --- loading ----------------------------------------------------------------------------------------------

    async def load(self, store: Any, fetch_url: UrlFetch) -> None:
        """At start: every entry must end up with a valid copy, or the node does not start."""
        now = self.clock()
        states = []
        for i, entry in enumerate(self.entries):
            try:
                anchor = keys.load_certificate(entry.anchor)
            except ConnectorError as exc:
                raise ConfigError(exc.code, exc.reason, f"trust.lists[{i}].anchor") from None
            if entry.territory_file is not None and not entry.territory:
                raise ConfigError(
                    "config.invalid",
                    "territory_file is the member state's list of an EU list of trusted lists: set territory too",
                    f"trust.lists[{i}].territory_file",
                )
            states.append(ListState(i, entry, anchor))
        seen: dict[str, int] = {}
        for state in states:
            if state.anchor_sha256 in seen:
                first = seen[state.anchor_sha256]
                raise ConfigError(
                    "config.invalid",
                    f"the same anchor is already pinned by trust.lists[{first}]",
                    f"{state.key}.anchor",
                )
            seen[state.anchor_sha256] = state.index
        for state in states:
            kept = await store.read(repo.kept_list, state.anchor_sha256)
            if kept is not None:
                state.current = _reread(state, kept, now)
                state.source = "store" if state.current is not None else None
            await self._consider_file(state, store, fetch_url, now)
            if not state.usable(now) and state.entry.url:
                await self._consider_url(state, store, fetch_url, now)
            if not state.usable(now):
                problem = state.problem
                code = problem.code if problem else ("trust_list.expired" if state.current else "trust_list.missing")
                why = (
                    problem.reason
                    if problem
                    else (
                        f"the kept list of {state.current.federation_name} has expired"
                        if state.current
                        else "no trust list was found"
                    )
                )
                raise ConfigError(
                    code,
                    f"the trust list in {state.entry.file} cannot be used ({why}) and no valid copy of it is kept",
                    f"{state.key}.file",
                )
            if state.problem is not None:
                log.error(
                    "trust list refused; using the copy kept earlier",
                    extra={
                        "key": f"{state.key}.file",
                        "code": state.problem.code,
                        "reason": state.problem.reason,
                        "federation": state.current.federation_name if state.current else None,
                    },
                )
            state.url_due = 0.0
        try:
            if states:  # no lists: an empty store, nothing to check
                from connector.trust.trust_list import TrustStore

                TrustStore(tuple(s.current for s in states if s.current is not None))
        except ConnectorError as exc:
            raise ConfigError(
                exc.code, "two trust lists are of the same federation; configure each federation once", "trust.lists"
            ) from None
        self.states = states
        for state in states:
            assert state.current is not None
            log.info(
                "trust list in force",
                extra={
                    "federation": state.current.federation_name,
                    "sequence": state.current.sequence,
                    "valid_until": format_datetime(state.current.valid_until),
                    "source": state.source,
                },
            )

    async def refresh(self, store: Any, fetch_url: UrlFetch, monotonic: float, force_url: bool = False) -> bool:
        """Re-read changed files and due URLs; True if a kept copy was replaced."""
        now = self.clock()
        changed = False
        for state in self.states:
            if state.stamp != state.file_stamp:
                changed |= await self._consider_file(state, store, fetch_url, now)
            if state.entry.url and (force_url or monotonic >= state.url_due):
                changed |= await self._consider_url(state, store, fetch_url, now)
                state.url_due = monotonic + self._next_fetch(state)
        return changed

    def _next_fetch(self, state: ListState) -> float:
        """Seconds until the url is fetched again: the refresh interval, with jitter so that the nodes of a
        federation do not all ask at once; sooner after a failure, backing off to the interval."""
        if state.retry is None:
            state.retry = Backoff(min(RETRY_INITIAL, self.refresh_interval), self.refresh_interval)
        if state.unreachable_since is None:
            state.retry.reset()
            return jittered(self.refresh_interval)
        return state.retry.next()

    async def _consider_file(self, state: ListState, store: Any, fetch_url: UrlFetch, now: datetime) -> bool:
        state.file_stamp = state.stamp
        try:
            text = state.entry.file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return False  # nothing offered: the kept copy (if any) stays
        except (OSError, UnicodeDecodeError) as exc:
            self._refused(
                state, Problem("trust_list.unreadable", f"cannot read {state.entry.file}: {exc}"), now, "file"
            )
            return False
        candidate = await self._with_member_list(state, text, fetch_url, now, "file")
        if candidate is None:
            return False
        return await self._consider(state, candidate, "file", store, now)

    async def _consider_url(self, state: ListState, store: Any, fetch_url: UrlFetch, now: datetime) -> bool:
        try:
            data = await fetch_url(state.entry.url)
            text = data.decode("utf-8").strip()
        except (FetchFailed, UnicodeDecodeError) as exc:
            reason = str(exc) if isinstance(exc, FetchFailed) else "the answer is not text"
            self._refused(state, Problem("trust_list.unavailable", f"trust list not fetched: {reason}"), now, "url")
            if isinstance(exc, FetchFailed) and state.unreachable_since is None:
                state.unreachable_since = now
            return False
        state.unreachable_since = None
        candidate = await self._with_member_list(state, text, fetch_url, now, "url")
        if candidate is None:
            return False
        return await self._consider(state, candidate, "url", store, now)

    async def _with_member_list(
        self, state: ListState, text: str, fetch_url: UrlFetch, now: datetime, source: str
    ) -> str | None:
        """The candidate to consider: the list itself, or for a LOTL entry the LOTL with its member state's list
        (None when that list cannot be had: the refusal is recorded)."""
        entry = state.entry
        if not entry.territory:
            return text
        from connector.trust import etsi

        try:
            if entry.territory_file is not None:
                member = entry.territory_file.read_text(encoding="utf-8").strip()
            else:
                pointer = etsi.lotl_pointer(text, state.anchor, entry.territory, now)
                member = (await fetch_url(pointer.location)).decode("utf-8").strip()
        except ConnectorError as exc:
            self._refused(state, exc.problem, now, source)
            return None
        except (OSError, UnicodeDecodeError, FetchFailed) as exc:
            problem = Problem("trust_list.unavailable", f"the trusted list of {entry.territory} was not read: {exc}")
            self._refused(state, problem, now, source)
            return None
        return etsi.member_pair(text, member)

    async def _consider(self, state: ListState, candidate: str, source: str, store: Any, now: datetime) -> bool:
        from connector.trust.trust_list import choose_copy

        choice = choose_copy(state.current, candidate, state.anchor, now, state.verify)
        if choice.problem is not None:
            self._refused(state, choice.problem, now, source)
        else:
            state.problem, state.problem_at = None, None
        if not choice.replaced or choice.trust_list is None:
            return False
        fresh = choice.trust_list
        copy = KeptList(
            state.anchor_sha256,
            fresh.federation_id,
            fresh.federation_name,
            fresh.sequence,
            format_datetime(fresh.valid_from),
            format_datetime(fresh.valid_until),
            fresh.sha256,
            candidate,
            source,
            format_datetime(now),
        )
        await store.run(repo.keep_list, copy)
        previous = state.current
        state.current, state.source = fresh, source
        if self.states:  # not during load (which logs what is in force once)
            log.info(
                "trust list replaced",
                extra={
                    "federation": fresh.federation_name,
                    "sequence": fresh.sequence,
                    "previous": previous.sequence if previous else None,
                    "source": source,
                },
            )
        return True

    def _refused(self, state: ListState, problem: Problem, now: datetime, source: str) -> None:
        state.problem, state.problem_at = problem, now
        if self.states:
            log.error(
                "trust list refused; keeping the copy in force",
                extra={
                    "key": f"{state.key}.{'url' if source == 'url' else 'file'}",
                    "code": problem.code,
                    "reason": problem.reason,
                },
            )
