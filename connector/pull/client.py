"""Pulling one transfer's data into a file with the consumer's own TLS identity: resumable, verified, atomic.

The node (through its management API, `NodeLink`) hands out the data endpoint with a current token and the trust
anchors, judges the seal and completes the transfer; the bytes go straight from the provider's data listener to
the file, over a connection that must present the provider's certificate (or, where the data plane accepts web
certificates, one that names no participant). The request carries the Authorization header the data address asks
for. The file is written through an `AtomicDownload`: a part file beside the final name, published only with the
verified seal of exactly its bytes - or, from a provider whose address offers no seal (an EDC data plane), once
the node has recorded the digest of what arrived as unsealed.
An interrupted pull (a broken connection, a suspension, a killed process) continues from the part's size with
``Range`` and ``If-Range``; the ETag it was started with is kept beside the part (``<file>.part.etag``), the size
the provider's first answer stated in the part's record. A resume the provider refuses because it counts the data
as delivered (``dataplane.delivered``) is taken as "the part holds it all" (the seal decides), unless the part is
known to be shorter than the data: then the rest can never come under this transfer, and the pull ends
(`Undelivered`) without asking for a seal that must fail.
A provider that cannot be reached (its data listener, or the node's way to it for a fresh token) is asked again
with back-off and jitter until `retry_for` seconds have passed without a byte received. A provider that hangs
(a stream that stops, a connection never answered) counts the same: no read or connection waits longer than what
is left of those seconds (at most STREAM_TIMEOUT), so the pull gives up about `retry_for` after the last byte.
The stream itself is read outside the event loop (`https_get`), written and hashed in threads of its own, with
direct writes where the file system allows them (a large download is not worth the page cache).
"""

from __future__ import annotations

import asyncio
import http.client
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509

from connector import jsontext
from connector.atomic_write import write_atomically
from connector.backoff import Backoff
from connector.errors import ConnectorError
from connector.evidence.seal import SealExpectation, verify_seal
from connector.pull.atomic_file import AtomicDownload, part_path, recorded_size
from connector.pull.https_get import BlockingGet, in_thread
from connector.web.peers import WrongPeer
from connector.web.ranges import parse_content_range
from connector.web.tls import TrustMaterial, client_context

ETAG_SUFFIX = ".etag"
MAX_SETBACKS = 5  # refused tokens in a row, without progress, before giving up
RETRY_FOR = 60.0  # seconds a provider that cannot be reached is asked again, by default
RETRY_INITIAL = 0.25  # seconds before the first attempt again (doubling, with jitter) ...
RETRY_MAX = 5.0  # ... up to this
STREAM_TIMEOUT = 120.0  # seconds one connection or read waits for the provider at most
MIN_PATIENCE = 1.0  # ... and at least, when little of `retry_for` is left
CHECKPOINT_BYTES = 1024 * 1024 * 1024  # fsync the part this often (the commit makes it all durable anyway)
_BROKEN = (OSError, http.client.HTTPException)


class PullRefused(ConnectorError):
    """The provider or the node said no for good (the transfer ended, the seal was refused, ...)."""


class Undelivered(PullRefused):
    """The provider counts the data as delivered but the part is known to lack some of it: the rest cannot be
    fetched under this transfer, which the puller therefore ends."""


class NotRunning(ConnectorError):
    """The transfer is not STARTED right now (requested, suspended, or ended: the puller finds out which)."""


class ProviderAway(ConnectorError):
    """The provider cannot be reached right now (the node could not get a fresh token from it): trying again may
    help."""


class NodeLink(Protocol):
    """What the puller needs from the consumer's node."""

    async def access(self, transfer_id: str) -> Mapping[str, Any]:
        """The endpoint with a current token; raises NotRunning when the transfer is not STARTED, ProviderAway when
        the provider cannot be reached."""
        ...

    async def wait_running(self, transfer_id: str, timeout: float) -> Mapping[str, Any]: ...

    async def report_seal(self, transfer_id: str, report: Mapping[str, Any]) -> Mapping[str, Any]: ...

    async def complete(self, transfer_id: str, file: Path) -> Mapping[str, Any]:
        """Report the transfer complete, its data published at `file` (the node keeps it as received data)."""
        ...

    async def terminate(self, transfer_id: str, reason: str) -> Mapping[str, Any]:
        """End the transfer TERMINATED with `reason` (the node tells the provider)."""
        ...


class Progress(Protocol):
    def begin(self, total: int | None, already: int) -> None: ...

    def update(self, done: int) -> None: ...

    def note(self, text: str) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def begin(self, total: int | None, already: int) -> None: ...

    def update(self, done: int) -> None: ...

    def note(self, text: str) -> None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class Identity:
    """The consumer's TLS identity and revocation lists: those its configuration names, and those its node fetched
    from the authorities' distribution points (no older than `fetched_max_age` seconds). `web_pki`: a provider's
    data endpoint may serve an ordinary web certificate (`data.client_certificate = "optional"`)."""

    tls_cert: Path
    tls_key: Path
    crls: tuple[Path, ...]
    fetched: tuple[Path, ...] = ()
    fetched_max_age: float | None = None
    web_pki: bool = False

    def ssl_context(self, anchors: list[x509.Certificate]) -> Any:
        return self.connection(anchors)[0]

    def connection(self, anchors: list[x509.Certificate]) -> tuple[ssl.SSLContext, Callable[[Any], bool] | None]:
        """The context to connect with, and the revocation check left to the caller (None: OpenSSL checks)."""
        trust = TrustMaterial(
            ca_paths=(),
            crl_paths=self.crls,
            extra_cas=tuple(anchors),
            fetched=self.fetched,
            fetched_max_age=self.fetched_max_age,
        ).load()
        if not self.web_pki:
            return client_context(self.tls_cert, self.tls_key, trust), None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.tls_cert, self.tls_key)
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        ctx.load_verify_locations(cadata=trust.cadata())
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx, trust.is_revoked


@dataclass(frozen=True)
class PullResult:
    transfer_id: str
    path: Path
    sha256: str
    size: int
    resumed_from: int  # bytes already held when this run began
    received: int  # bytes received by this run
    stream_seconds: float  # time spent receiving
    stream_cpu_seconds: float  # CPU the process spent meanwhile, every thread (what one core alone would need)
    seconds: float  # the whole run, seal and completion included
    verdict: Mapping[str, Any]
    completed: bool
    completion_error: str | None = None


def _anchors(info: Mapping[str, Any]) -> list[x509.Certificate]:
    pems = info.get("trustAnchors") or []
    return [x509.load_pem_x509_certificate(p.encode("ascii")) for p in pems]


def _etag_path(final: Path) -> Path:
    return part_path(final).with_name(part_path(final).name + ETAG_SUFFIX)


def _read_etag(final: Path) -> str | None:
    try:
        text = _etag_path(final).read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return text or None


def _write_etag(final: Path, etag: str | None) -> None:
    path = _etag_path(final)
    if etag is None:
        path.unlink(missing_ok=True)
        return
    write_atomically(path, etag.encode("ascii"), 0o644)


def short_of_delivered(held: int, total: int | None) -> Undelivered | None:
    """A resume was refused because the provider counts the data as delivered (``dataplane.delivered``): the
    refusal to raise when the part, holding `held` bytes, is known to be shorter than the data's `total` size;
    None when it may hold everything (the total is unknown, or reached), which the seal then decides."""
    if total is None or held >= total:
        return None
    return Undelivered(
        "pull.undelivered",
        f"the provider counts the data as delivered and refused to send more (dataplane.delivered), but the part "
        f"held only {held} of its {total} bytes: the missing {total - held} bytes cannot be fetched under this "
        "transfer",
    )


def answer_problem(status: int, body: bytes) -> tuple[str, str]:
    """The code and reason of an error answer ({"code", "reason"} JSON), or the status."""
    try:
        value = jsontext.loads(body)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return str(value.get("code") or f"http.{status}"), str(value.get("reason") or f"HTTP {status}")
    return f"http.{status}", f"HTTP {status}"


class Puller:
    def __init__(
        self,
        node: NodeLink,
        identity: Identity,
        out: Path,
        *,
        overwrite: bool = False,
        progress: Progress | None = None,
        wait_timeout: float = 120.0,
        retry_for: float = RETRY_FOR,
        draw: Callable[[], float] = random.random,  # the back-off's jitter
    ) -> None:
        self.node = node
        self.identity = identity
        self.out = out
        self.overwrite = overwrite
        self.progress = progress or NoProgress()
        self.wait_timeout = wait_timeout
        self.retry_for = retry_for
        self._backoff = Backoff(RETRY_INITIAL, RETRY_MAX, draw=draw)
        # Monotonic time of the provider's last sign: a byte received, or the transfer (re)starting.
        self._heard = time.monotonic()
        self._stream_seconds = 0.0
        self._stream_cpu_seconds = 0.0
        self._received = 0
        self._revoked: Callable[[Any], bool] | None = None

    async def pull(self, transfer_id: str, *, replace_foreign: bool = False) -> PullResult:
        started = self._heard = time.monotonic()
        info = await self._access(transfer_id)
        anchors = _anchors(info)
        ssl_context, self._revoked = self.identity.connection(anchors)
        total = recorded_size(self.out, transfer_id)  # what an earlier run was told, if it was
        download = await AtomicDownload.begin(
            self.out, transfer_id, None, replace_foreign=replace_foreign, overwrite=self.overwrite
        )
        download.checkpoint_bytes = CHECKPOINT_BYTES
        download.use_direct_io()
        resumed_from = download.offset
        if resumed_from:
            self.progress.note(f"resuming at byte {resumed_from} of an earlier pull")
            await download.expect(total)
        else:
            _write_etag(self.out, None)
        seal: Mapping[str, Any] | None = None
        try:
            while True:
                info = await self._receive(ssl_context, info, download)
                if not info.get("sealEndpoint"):
                    break  # the provider does not seal: the node decides whether that will do
                seal = await self._seal(ssl_context, info, download)
                if seal is not None:
                    break
                await download.restart()  # the data changed since it was sent: all over again
                _write_etag(self.out, None)
                self.progress.note("the provider's data changed meanwhile; starting again")
            digest = download.digest()
            verdict = await self.node.report_seal(
                transfer_id, {"seal": seal, "sha256": digest.sha256, "size": digest.size}
            )
        except Undelivered as exc:
            await download.discard()
            _write_etag(self.out, None)
            raise await self._terminate(transfer_id, exc) from None
        except PullRefused:
            await download.discard()
            _write_etag(self.out, None)
            raise
        except BaseException:
            await download.pause()
            raise
        try:
            if seal is None:
                if verdict.get("sealed") is not False or verdict.get("sha256") != digest.sha256:
                    raise PullRefused("seal.missing", "the node did not accept the data without a seal")
                path = await download.commit_unsealed(digest)
            else:
                facts = verify_seal(seal, digest.sha256, digest.size, _expectation(info), anchors, datetime.now(UTC))
                path = await download.commit(facts)
        except BaseException:
            await download.pause()
            raise
        _write_etag(self.out, None)
        completed, completion_error = True, None
        try:
            await self.node.complete(transfer_id, path)
        except ConnectorError as exc:
            completed, completion_error = False, exc.reason
        return PullResult(
            transfer_id,
            path,
            digest.sha256,
            digest.size,
            resumed_from,
            self._received,
            self._stream_seconds,
            self._stream_cpu_seconds,
            time.monotonic() - started,
            verdict,
            completed,
            completion_error,
        )

    async def _terminate(self, transfer_id: str, undelivered: Undelivered) -> Undelivered:
        """End the transfer that cannot deliver what is missing, with the reason: it is not left STARTED, and
        not taken for a seal that failed. Returns the refusal to raise, saying what became of the transfer."""
        try:
            await self.node.terminate(transfer_id, undelivered.reason)
        except ConnectorError as exc:
            ended = f"the part is discarded, but the node did not end the transfer ({exc.reason})"
        else:
            ended = "the part is discarded and the transfer TERMINATED"
        return Undelivered(undelivered.code, f"{undelivered.reason}; {ended}; request a new transfer")

    async def _receive(
        self, ssl_context: ssl.SSLContext, info: Mapping[str, Any], download: AtomicDownload
    ) -> Mapping[str, Any]:
        """Stream until the part holds the whole representation; returns the access info last used."""
        setbacks = 0
        while True:
            before = download.offset
            try:
                outcome = await self._stream_once(ssl_context, info, download)
            except _BROKEN as exc:
                await download.checkpoint()
                if download.offset > before:
                    self._came_back()
                    setbacks = 0
                else:
                    await self._wait_out(f"the provider cannot be reached ({exc or type(exc).__name__})")
                outcome = "interrupted"
            if outcome == "done":
                return info
            if outcome == "again":
                setbacks += 1
                if setbacks >= MAX_SETBACKS:
                    raise ConnectorError("pull.refused_again", "the provider keeps refusing fresh tokens")
            if outcome in ("interrupted", "suspended"):
                await self._until_running(download.transfer_id)
                if outcome == "suspended":  # running again after a suspension: the provider's time starts anew
                    self._heard = time.monotonic()
                self.progress.note(f"continuing at byte {download.offset}")
            info = await self._access(download.transfer_id)  # a fresh token

    async def _access(self, transfer_id: str) -> Mapping[str, Any]:
        while True:
            try:
                # The node asks the provider for the token: a provider that hangs is waited for no longer than
                # for its data.
                return await asyncio.wait_for(self.node.access(transfer_id), self._patience())
            except TimeoutError:
                await self._wait_out("the provider did not give a fresh token in time")
            except NotRunning:
                await self._until_running(transfer_id)
                self._heard = time.monotonic()
            except ProviderAway as exc:
                await self._wait_out(exc.reason)

    async def _wait_out(self, why: str) -> None:
        """The provider is away: wait (back-off with jitter) before the next attempt, or give up once `retry_for`
        seconds have passed without a byte received."""
        now = time.monotonic()
        left = self._heard + self.retry_for - now
        if left <= 0:
            raise ConnectorError("pull.broken", f"{why}; gave up after trying for {self.retry_for:g} s")
        delay = min(self._backoff.next(), left)
        self.progress.note(f"{why}; trying again in {delay:.1f} s")
        await asyncio.sleep(delay)

    def _came_back(self) -> None:
        self._backoff.reset()

    def _patience(self) -> float:
        """Seconds a connection or a read may wait for the provider now: what is left of `retry_for` since its
        last sign, within [MIN_PATIENCE, STREAM_TIMEOUT]."""
        left = self._heard + self.retry_for - time.monotonic()
        return min(STREAM_TIMEOUT, max(MIN_PATIENCE, left))

    async def _until_running(self, transfer_id: str) -> None:
        """Wait while the transfer is suspended (or not started yet); an ended transfer is a refusal."""
        record = await self.node.wait_running(transfer_id, self.wait_timeout)
        state = record.get("state")
        if state in ("TERMINATED", "COMPLETED"):
            raise PullRefused("pull.ended", f"the transfer is {state}: {record.get('reason') or 'no reason given'}")
        if state != "STARTED":
            raise ConnectorError(
                "pull.waiting",
                f"the transfer is still {state} after {self.wait_timeout:g} s; run the command again to continue",
            )

    async def _get(
        self, ssl_context: ssl.SSLContext, info: Mapping[str, Any], url: str, headers: dict[str, str]
    ) -> tuple[BlockingGet, int, dict[str, str]]:
        # What the data address asks for: "Bearer <token>", or the bare token for an EDC data plane.
        authorization = info.get("authorizationHeader") or f"Bearer {info['authorization']}"
        get = BlockingGet(
            url,
            {"Authorization": str(authorization), **headers},
            ssl_context,
            str(info["providerId"]),
            timeout=self._patience(),
            accept_unnamed=self.identity.web_pki,
            revoked=self._revoked,
        )
        try:
            status, answer = await in_thread(get.open, on_cancel=get.abort)
        except WrongPeer as exc:
            get.close()
            raise PullRefused(exc.code, exc.reason) from None
        except BaseException:
            get.close()
            raise
        return get, status, answer

    async def _stream_once(self, ssl_context: ssl.SSLContext, info: Mapping[str, Any], download: AtomicDownload) -> str:
        offset = download.offset
        headers: dict[str, str] = {}
        etag = _read_etag(self.out)
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if etag:
                headers["If-Range"] = etag
        get, status, answer = await self._get(ssl_context, info, str(info["endpoint"]), headers)
        try:
            if status == 416:
                stated = answer.get("content-range", "").removeprefix("bytes */")
                if stated.isdigit() and int(stated) == offset:
                    return "done"  # the part already holds everything
                await download.restart()
                return "again"
            if status not in (200, 206):
                code, reason = answer_problem(status, await in_thread(get.read_small, on_cancel=get.abort))
                if status == 401 and code in ("token.expired", "token.revoked"):
                    return "again"
                if status == 409:
                    return "suspended"
                if code == "dataplane.delivered" and offset:
                    short = short_of_delivered(offset, download.expected_size)
                    if short is not None:
                        raise short
                    return "done"  # the last bytes reached the part before a stop: the seal says if all did
                raise PullRefused(code, f"the provider refused the pull ({status}): {reason}")
            if status == 206:
                stated_range = parse_content_range(answer.get("content-range"))
                if stated_range is None or stated_range[0].start != offset:
                    raise ConnectorError("pull.bad_range", "the provider answered another range than asked for")
                total = stated_range[1]
                if total is not None:
                    await download.expect(total)
            else:
                if offset:
                    self.progress.note("the provider sent the data whole; starting again")
                    await download.restart()
                    offset = 0
                length = answer.get("content-length")
                total = int(length) if length is not None and length.isdigit() else None
                await download.expect(total)
            _write_etag(self.out, answer.get("etag"))
            self.progress.begin(total, offset)
            began, began_cpu = time.monotonic(), time.process_time()

            write_stage, hash_stage = download.pipeline_stages()

            def write(part: memoryview) -> None:
                write_stage(part)
                self._received += len(part)
                self._heard = time.monotonic()

            try:
                await in_thread(
                    get.read_into, (write, hash_stage), lambda n: self.progress.update(offset + n), on_cancel=get.abort
                )
            finally:
                self._stream_seconds += time.monotonic() - began
                self._stream_cpu_seconds += time.process_time() - began_cpu
            self.progress.finish()
            if total is not None and download.offset != total:
                raise ConnectionResetError(f"the stream ended at byte {download.offset} of {total}")
            await download.checkpoint()
            return "done"
        finally:
            get.close()

    async def _seal(
        self, ssl_context: ssl.SSLContext, info: Mapping[str, Any], download: AtomicDownload
    ) -> Mapping[str, Any] | None:
        """The provider's seal of what the part holds (None when the data changed since it was sent)."""
        for _ in range(3):
            etag = _read_etag(self.out)
            get, status, _ = await self._get(
                ssl_context, info, str(info["sealEndpoint"]), {"If-Match": etag} if etag else {}
            )
            try:
                body = await in_thread(get.read_small, on_cancel=get.abort)
            finally:
                get.close()
            if status == 200:
                return seal_of(body)
            if status == 412:
                return None
            code, reason = answer_problem(status, body)
            if status != 401:
                raise PullRefused(code, f"the provider gave no seal ({status}): {reason}")
            info = await self._access(download.transfer_id)
        raise PullRefused("seal.unavailable", "the provider kept refusing the token for its seal")


def seal_of(body: bytes) -> dict[str, Any]:
    """The provider's seal as it answered it: a JSON object, else PullRefused(seal.malformed)."""
    try:
        seal = jsontext.loads(body)
    except ValueError:
        seal = None
    if not isinstance(seal, dict):
        raise PullRefused("seal.malformed", "the provider's seal is not a JSON object")
    return seal


def _expectation(info: Mapping[str, Any]) -> SealExpectation:
    return SealExpectation(
        dataset_id=str(info["datasetId"]),
        agreement_id=str(info["agreementId"]),
        provider_pid=str(info["providerPid"]),
        consumer_pid=str(info["consumerPid"]),
        issuer=str(info["providerId"]),
    )
