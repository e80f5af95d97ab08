"""Fetching what verification needs, over the node's mutual-TLS session, with bounds and short-lived caches.

- DID documents: cached parsed for `did_ttl`, refreshed in the background from DID_REFRESH_AT of it on, and
  served while a fresh copy is fetched for at most `stale_for` past it (so a key rotation reaches us within
  `did_ttl` + `stale_for`, and no request waits for a document that was merely due); one fetch per document at a
  time, whoever asks. Whoever presents a token naming a did:web has its document fetched and kept, so they are
  kept within DOCUMENT_BUDGET bytes as they are held once parsed (up to 24 times the bytes fetched), not only
  MAX_CACHED of them. A document that does not parse is never cached, so the plan sees the bytes and names the
  exact problem.
- Status list credentials: cached as fetched, with the time they were fetched. Whether a cached copy may still
  be used is the core's decision (`StatusListCachePolicy`: validity, ttl, `status_max_age`); the plan asks for
  a refetch when it is not, the cache forgets copies past their own validity, and the verifier drops a copy
  it could not use (so one bad answer does not refuse every request until it would have expired).
- Every body is read up to a limit; an oversized answer, a non-200 status, a timeout or a refused connection is
  a `FetchFailed`, which the driver turns into the plan's "could not be obtained" refusal (fail closed).
- Public material that could not be fetched is not asked for again at every request: each URL that failed waits
  out an exponential back-off with jitter (up to RETRY_MAX) before the next attempt, answered meanwhile with the
  same failure, so that an authority coming back is not met by every verification at once.
- A peer's credential service on its own host is asked through the node's identity pool (`OutgoingHttp.identity`),
  never behind the peer's own messages.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from connector import jsontext
from connector.backoff import Backoff
from connector.errors import ConnectorError
from connector.recent import Recent, held_bytes
from connector.web.outgoing import EXPECTED_PEER, OutgoingHttp

if TYPE_CHECKING:  # DID documents: read with the first one fetched
    from connector.trust.did import DidDocument

Clock = Callable[[], datetime]
DEFAULT_TIMEOUT = 10.0
MAX_CACHED = 1024
DOCUMENT_BUDGET = 16 * 1024 * 1024  # bytes of parsed DID documents kept in all (a node's own: about 9 KB)
DOCUMENT_LARGEST = DOCUMENT_BUDGET // 8  # the largest one kept (one fetched may hold 5 MiB: MAX_DOCUMENT_BYTES of [])
STATUS_BUDGET = 64 * 1024 * 1024  # characters of status lists kept in all (the verified lists are held within as much)
STATUS_LARGEST = 16 * 1024 * 1024  # the largest one kept (status_list.MAX_BITSTRING_BYTES, what a fetch admits)
DID_REFRESH_AT = 0.8  # of did_ttl: from then on a cached DID document is refreshed in the background
RETRY_INITIAL = 0.25  # seconds a URL that failed is not asked again (doubling, with jitter) ...
RETRY_MAX = 10.0  # ... up to this

log = logging.getLogger("connector.trust")


class FetchFailed(Exception):
    """A document could not be obtained; the message says why (it ends up in the refusal's reason)."""


@dataclass(frozen=True)
class CachedStatusList:
    token: str
    fetched_at: datetime
    valid_until: datetime


@dataclass
class _Failing:
    """A URL that could not be fetched: why, and until when it is not asked again."""

    backoff: Backoff
    reason: str = ""
    until: datetime = field(default_factory=lambda: datetime.min)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else None)


def _document_size(did: str, cached: tuple[DidDocument, datetime]) -> int:
    """What a kept DID document holds: its parsed members and methods, and the certificates of its key chains
    (held outside the interpreter's own memory: at least their DER)."""
    document = cached[0]
    certificates = sum(len(c.tbs_certificate_bytes) + len(c.signature) for m in document.methods for c in m.chain)
    return len(did) + held_bytes(document, DOCUMENT_LARGEST) + certificates


class Fetcher:
    def __init__(
        self,
        http: OutgoingHttp,
        clock: Clock,
        did_ttl: timedelta = timedelta(seconds=30),
        timeout: float = DEFAULT_TIMEOUT,
        stale_for: timedelta | None = None,  # default: did_ttl
        draw: Callable[[], float] = random.random,  # the back-off's jitter
    ) -> None:
        self.http = http
        self.clock = clock
        self.did_ttl = did_ttl
        self.stale_for = did_ttl if stale_for is None else stale_for
        self.timeout = timeout
        self.draw = draw
        # DID documents parsed, within DOCUMENT_BUDGET bytes; one larger than DOCUMENT_LARGEST is fetched again when
        # next needed.
        self._documents: Recent[str, tuple[DidDocument, datetime]] = Recent(
            MAX_CACHED, DOCUMENT_BUDGET, _document_size, largest=DOCUMENT_LARGEST
        )
        # Status lists as fetched, within STATUS_BUDGET characters: a list may be as large as MAX_BITSTRING_BYTES.
        self._status: Recent[str, CachedStatusList] = Recent(
            MAX_CACHED, STATUS_BUDGET, lambda url, cached: len(url) + len(cached.token), largest=STATUS_LARGEST
        )
        self._fetching: dict[str, asyncio.Future[DidDocument | bytes]] = {}  # DID -> the fetch under way
        self._refreshing: set[asyncio.Task[None]] = set()
        self._failing: OrderedDict[str, _Failing] = OrderedDict()
        self.fetches = 0  # requests actually sent (for the benchmark and tests)

    # --- transport ------------------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        url: str,
        limit: int,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        peer: str | None = None,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """Public material goes through the session without our certificate; a request to a peer (`peer`) goes
        through ours, and only to a server whose certificate names that peer."""
        try:
            session = self.http.identity() if peer is not None else self.http.public()
        except ConnectorError:
            raise FetchFailed("the node is not running") from None
        self.fetches += 1
        expecting = EXPECTED_PEER.set(peer)
        try:
            async with session.request(
                method,
                url,
                data=body,
                headers=dict(headers or {}),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as resp:
                data = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    data.extend(chunk)
                    if len(data) > limit:
                        raise FetchFailed(f"{url} answered more than {limit} bytes")
                return resp.status, bytes(data), dict(resp.headers)
        except FetchFailed:
            raise
        except ConnectorError as exc:  # the server is not the peer
            raise FetchFailed(exc.reason) from None
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            raise FetchFailed(f"cannot reach {url}: {str(exc) or type(exc).__name__}") from None
        finally:
            EXPECTED_PEER.reset(expecting)

    async def get(self, url: str, limit: int) -> bytes:
        """Public material at `url`; a URL that failed lately fails again at once until its back-off is over."""
        failing = self._failing.get(url)
        if failing is not None and self.clock() < failing.until:
            wait = (failing.until - self.clock()).total_seconds()
            raise FetchFailed(f"{failing.reason} (asked again in {wait:.1f} s)")
        try:
            status, data, _ = await self._request("GET", url, limit)
            if status != 200:
                raise FetchFailed(f"{url} answered HTTP {status}")
        except FetchFailed as exc:
            if failing is None:
                failing = self._failing[url] = _Failing(Backoff(RETRY_INITIAL, RETRY_MAX, draw=self.draw))
                while len(self._failing) > MAX_CACHED:
                    self._failing.popitem(last=False)
            failing.reason = str(exc)
            failing.until = self.clock() + timedelta(seconds=failing.backoff.next())
            raise
        self._failing.pop(url, None)
        return data

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], limit: int, peer: str | None = None
    ) -> tuple[int, bytes]:
        status, data, _ = await self._request("POST", url, limit, body, headers, peer)
        return status, data

    async def exchange(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str], limit: int
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """A request to a service that is no peer (an issuer service), without our certificate: status, body and
        response headers, whatever the status."""
        return await self._request(method, url, limit, body, headers)

    # --- DID documents --------------------------------------------------------------------------------------

    async def did_document(self, did: str, url: str) -> DidDocument | bytes:
        """The DID document of `did`: parsed (and cached) when it parses, otherwise the raw bytes."""
        cached = self._documents.get(did)
        if cached is not None:
            age = self.clock() - cached[1]
            if age < self.did_ttl * DID_REFRESH_AT:
                return cached[0]
            if age < self.did_ttl + self.stale_for:  # due, or a little past: fetched afresh behind the answer
                self._refresh(did, url)
                return cached[0]
        return await self._document(did, url)

    async def _document(self, did: str, url: str) -> DidDocument | bytes:
        """Fetch `did`'s document, sharing a fetch already under way (a caller giving up does not end it)."""
        running = self._fetching.get(did)
        if running is None:
            running = self._fetching[did] = asyncio.ensure_future(self._load_document(did, url))
            running.add_done_callback(lambda done: self._fetched(did, done))
        return await asyncio.shield(running)

    def _fetched(self, did: str, done: asyncio.Future[DidDocument | bytes]) -> None:
        if self._fetching.get(did) is done:
            del self._fetching[did]
        if not done.cancelled():
            done.exception()  # looked at: a failure nobody awaited (a background refresh) is not reported as lost

    def _refresh(self, did: str, url: str) -> None:
        if did in self._fetching:
            return
        task = asyncio.ensure_future(self._refresh_quietly(did, url))
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _refresh_quietly(self, did: str, url: str) -> None:
        try:
            await self._document(did, url)
        except (FetchFailed, ConnectorError) as exc:  # the cached copy serves until stale_for is over
            log.info("DID document not refreshed: %s", exc, extra={"did": did})

    async def _load_document(self, did: str, url: str) -> DidDocument | bytes:
        from connector.trust.did import MAX_DOCUMENT_BYTES, parse_did_document

        fetched_at = self.clock()
        data = await self.get(url, MAX_DOCUMENT_BYTES)
        try:
            document = parse_did_document(data, did)
        except ConnectorError:
            return data
        self._documents[did] = (document, fetched_at)
        return document

    async def resolve(self, did: str) -> DidDocument:
        """A parsed DID document or ConnectorError('did.*') (for the credential service, which has no plan)."""
        from connector.trust.did import DidDocument, parse_did, parse_did_document

        try:
            found = await self.did_document(did, parse_did(did).url)
        except FetchFailed as exc:
            raise ConnectorError("did.unavailable", f"the DID document could not be obtained: {exc}") from None
        if isinstance(found, DidDocument):
            return found
        return parse_did_document(found, did)  # raises the precise problem

    # --- status lists ---------------------------------------------------------------------------------------

    async def status_list(self, url: str, refetch: bool) -> tuple[str, datetime]:
        """(token, fetched_at): the cached copy unless `refetch` or it is past its own validity."""
        from connector.trust.status_list import MAX_BITSTRING_BYTES, valid_until_unverified  # with the first status

        now = self.clock()
        cached = self._status.get(url)
        if cached is not None and not refetch and now < cached.valid_until:
            return cached.token, cached.fetched_at
        fetched_at = self.clock()
        data = await self.get(url, MAX_BITSTRING_BYTES)
        try:
            token = data.decode("ascii").strip()
        except UnicodeDecodeError:
            raise FetchFailed(f"{url} did not answer a JWT") from None
        until = valid_until_unverified(token)
        if until is not None:  # what states no validity cannot be kept for a bounded time: not kept at all
            self._status[url] = CachedStatusList(token, fetched_at, until)
        return token, fetched_at

    def cached_status_lists(self) -> list[tuple[str, datetime]]:
        """The status lists held (URL, until when each is valid)."""
        return [(url, cached.valid_until) for url, cached in self._status.items()]

    def forget_status(self, url: str) -> None:
        """Drop a cached status list the verifier could not use, so the next request fetches it again."""
        self._status.pop(url, None)

    # --- presentations -----------------------------------------------------------------------------------------

    async def presentation(self, url: str, body: bytes, headers: Mapping[str, str], holder: str) -> bytes:
        """Ask `holder`'s credential service. On the holder's own host the server must be the holder (mutual TLS,
        our certificate presented); elsewhere (a host its trust list or our configuration names) it is asked as
        public material, without our certificate: it is never shown to a party that is not the peer."""
        from connector.trust.did import parse_did
        from connector.trust.presentations import MAX_MESSAGE_BYTES  # the verifier's part: with its first query

        own_host = _origin(url) == _origin(parse_did(holder).url)
        status, data = await self.post(url, body, headers, MAX_MESSAGE_BYTES, holder if own_host else None)
        if status != 200:
            reason = ""
            try:
                answer: Any = jsontext.loads(data)
                if isinstance(answer, dict) and isinstance(answer.get("code"), str):
                    reason = f" ({answer['code']}: {str(answer.get('reason', ''))[:200]})"
            except ValueError:  # the refusal is told without its reason, whatever it held
                pass
            raise FetchFailed(f"the credential service answered HTTP {status}{reason}")
        return data

    def clear(self) -> None:
        self._documents.clear()
        self._status.clear()
        self._failing.clear()
