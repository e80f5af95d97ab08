"""The running node: resources in start-up order, listeners, and a graceful shutdown in reverse order.

Start-up order (and, reversed, shutdown order) is the order of `enter_async_context` calls in `Node.start`:
store -> trust material -> identity -> outgoing HTTP session -> background tasks -> listeners. A signal stops
the listeners first (in-flight requests finish), then the background work, then the store closes cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import gc
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from connector import __version__
from connector.config import Config, Listen
from connector.errors import ConnectorError
from connector.node.identity import NodeIdentity, load_identity
from connector.node.signals import until_stopped
from connector.participant import did_web_origin
from connector.store.sqlite import SqliteStore
from connector.web.tls import ReloadingServerContext, TrustMaterial, client_context

log = logging.getLogger("connector.node")

DSP_BASE_PATH = "/dsp/2025-1"
SHUTDOWN_GRACE = 10.0


@dataclass
class Listener:
    name: str
    listen: Listen
    runner: web.AppRunner
    site: web.TCPSite | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when the configuration asked for port 0)."""
        server = self.site._server if self.site else None
        if server and server.sockets:
            return server.sockets[0].getsockname()[1]
        return self.listen.port


@dataclass
class Node:
    config: Config
    identity: NodeIdentity | None = None
    trust: TrustMaterial | None = None
    tls: ReloadingServerContext | None = None
    store: SqliteStore | None = None
    http: aiohttp.ClientSession | None = None
    listeners: dict[str, Listener] = field(default_factory=dict)
    started_at: float = 0.0
    ready: bool = False
    # Subsystems: the control plane, the data plane, evidence (attached in node/subsystems.py).
    control: Any = None
    dataplane: Any = None
    evidence: Any = None
    trust_edge: Any = None
    # Authorization header for outgoing requests to a peer (set by the trust subsystem).
    outgoing_auth: Callable[[str], Awaitable[str | None]] | None = None
    _stack: contextlib.AsyncExitStack | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)  # a set: tasks come and go per step
    _draining: list[aiohttp.ClientSession] = field(default_factory=list)
    _extra_tls: list[ReloadingServerContext] = field(default_factory=list)
    # Subsystems register start hooks (run after the store and identity exist, before listeners open).
    start_hooks: list[Callable[[Node], Awaitable[None]]] = field(default_factory=list)
    ready_hooks: list[Callable[[Node], Awaitable[None]]] = field(default_factory=list)  # after listeners open
    stop_hooks: list[Callable[[Node], Awaitable[None]]] = field(default_factory=list)
    # Routes subsystems add to the listeners' apps (each node has its own).
    protocol_routes: list[web.RouteDef] = field(default_factory=list)
    # Further listeners subsystems add: (name, address, app factory, TLS context factory or None).
    extra_listeners: list[
        tuple[str, Listen, Callable[[Node], web.Application], Callable[[Node], ssl.SSLContext | None]]
    ] = field(default_factory=list)
    # Further sources of CA certificates for peer TLS (the trust lists of the federations recognised).
    ca_sources: list[Callable[[], list[Any]]] = field(default_factory=list)
    management_routes: list[web.RouteDef] = field(default_factory=list)

    @property
    def participant_id(self) -> str:
        return self.config.node.participant_id

    @property
    def public_url(self) -> str:
        """Base URL peers use for this node's protocol listener."""
        if self.config.protocol.public_url:
            return self.config.protocol.public_url.rstrip("/")
        if self.config.protocol.insecure_http:
            listen = self.config.protocol.listen
            port = self.listeners["protocol"].port if "protocol" in self.listeners else listen.port
            return f"http://{listen.host}:{port}"
        return did_web_origin(self.participant_id)

    @property
    def dsp_url(self) -> str:
        return self.public_url + DSP_BASE_PATH

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        from connector.management.app import build_management_app
        from connector.protocol.app import build_protocol_app

        self.started_at = time.monotonic()
        stack = contextlib.AsyncExitStack()
        self._stack = stack
        try:
            self.config.node.data_dir.mkdir(parents=True, exist_ok=True)
            stack.enter_context(_exclusive(self.config.node.data_dir))
            self.store = await stack.enter_async_context(_store(self.config))
            if not self.config.protocol.insecure_http:
                self.trust = self._trust_material()
                self.identity = load_identity(self.config, self.trust.cas)
                # Revocation on the protocol listener is answered by the request middleware (a clear 401).
                self.tls = ReloadingServerContext(
                    self.config.identity.tls_cert, self.config.identity.tls_key, self.trust, check_crl=False
                )
            self.http = self._new_http_session()
            stack.push_async_callback(self._close_http)
            stack.push_async_callback(self._stop_tasks)
            for hook in self.start_hooks:
                await hook(self)
            for hook in reversed(self.stop_hooks):  # they run after the listeners closed, before the store
                stack.push_async_callback(hook, self)
            if self.tls is not None:
                self.spawn(self._watch_trust_files(), "trust-reload")
            protocol_ssl = self.tls.listener_context if self.tls else None
            if self.config.protocol.insecure_http:
                log.warning(
                    "INSECURE: the protocol listener serves plain HTTP without TLS or peer authentication "
                    "(protocol.insecure_http = true); use this only for conformance tests on loopback"
                )
            await self._listen(stack, "protocol", self.config.protocol.listen, build_protocol_app(self), protocol_ssl)
            await self._listen(stack, "management", self.config.management.listen, build_management_app(self), None)
            for name, listen, make_app, make_ssl in self.extra_listeners:
                await self._listen(stack, name, listen, make_app(self), make_ssl(self))
            for hook in self.ready_hooks:
                await hook(self)
            self.ready = True
            log.info(
                "node started",
                extra={
                    "participant_id": self.participant_id,
                    "version": __version__,
                    "protocol": f"{self.public_url}",
                    "management": str(self.config.management.listen),
                    "startup_ms": round((time.monotonic() - self.started_at) * 1000, 1),
                },
            )
        except BaseException:
            await stack.aclose()
            raise

    async def stop(self) -> None:
        self.ready = False
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None
        log.info("node stopped", extra={"participant_id": self.participant_id})

    async def _listen(
        self,
        stack: contextlib.AsyncExitStack,
        name: str,
        listen: Listen,
        app: web.Application,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, listen.host, listen.port, ssl_context=ssl_context, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            key = f"{name}.listen"
            if exc.errno == errno.EADDRINUSE:
                raise ConnectorError(
                    "listen.in_use", f"port {listen.port} on {listen.host} is already in use", key
                ) from None
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
                raise ConnectorError("listen.unavailable", f"cannot listen on {listen}: {exc.strerror}", key) from None
            raise ConnectorError("listen.failed", f"cannot listen on {listen}: {exc}", key) from None
        self.listeners[name] = Listener(name, listen, runner, site)

    # --- background work ------------------------------------------------------------------------------------

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """Run a background task owned by the node; it is cancelled at shutdown and its crash is logged."""
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %s failed", name, exc_info=t.exception())

        task.add_done_callback(done)
        return task

    async def _stop_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch_trust_files(self) -> None:
        """Reload CA and CRL files when they change on disk (a revocation reaches new handshakes at once)."""
        assert self.trust is not None and self.tls is not None
        while True:
            await asyncio.sleep(self.config.trust.reload_interval)
            if not self.trust.changed():
                continue
            try:
                self.reload_trust()
            except ConnectorError as exc:
                log.error(
                    "trust files changed but cannot be used; keeping the previous ones: %s",
                    exc.reason,
                    extra={"where": exc.where},
                )
                self.trust.stamp = ()  # retry on the next change check

    def reload_trust(self) -> None:
        """Rebuild the TLS anchors (configured CAs and CRLs, plus every `ca_sources` entry) for all listeners and
        the outgoing session; raises ConnectorError and keeps the current ones if the new material is unusable."""
        if self.tls is None:
            return
        fresh = self._trust_material()
        self.tls.rebuild(fresh)
        for extra in self._extra_tls:
            extra.rebuild(fresh)
        self.trust = fresh
        self.reload_client_context()
        log.info("trust material reloaded", extra={"cas": len(fresh.cas), "crls": len(fresh.crls)})

    def server_tls(self, require_client_cert: bool = True) -> ssl.SSLContext | None:
        """A listener TLS context with this node's identity that follows trust reloads (None without TLS)."""
        if self.trust is None:
            return None
        ctx = ReloadingServerContext(
            self.config.identity.tls_cert,
            self.config.identity.tls_key,  # type: ignore[arg-type]
            self.trust,
            require_client_cert,
        )
        self._extra_tls.append(ctx)
        return ctx.listener_context

    def _trust_material(self) -> TrustMaterial:
        extra = [cert for source in self.ca_sources for cert in source()]
        return TrustMaterial(self.config.trust.ca, self.config.trust.crl, extra_cas=tuple(extra)).load()

    def reload_client_context(self) -> None:
        """New outgoing connections use the new trust material; the old pool drains, then closes."""
        old, self.http = self.http, self._new_http_session()
        if old is not None:
            self._draining.append(old)

            async def close_later() -> None:
                await asyncio.sleep(SHUTDOWN_GRACE)
                self._draining.remove(old)
                await old.close()

            self.spawn(close_later(), "close-old-http-session")

    def _new_http_session(self) -> aiohttp.ClientSession:
        """One pooled session for every outgoing request to peers (mutual TLS with our own certificate)."""
        ssl_ctx: ssl.SSLContext | bool = False
        if self.trust is not None:
            ssl_ctx = client_context(self.config.identity.tls_cert, self.config.identity.tls_key, self.trust)
        from connector.control.peer_client import IdentifiedResponse

        conn = aiohttp.TCPConnector(ssl=ssl_ctx, limit=200, limit_per_host=50, keepalive_timeout=60)
        return aiohttp.ClientSession(
            connector=conn,
            timeout=aiohttp.ClientTimeout(total=30, connect=5),
            headers={"User-Agent": f"connector/{__version__}"},
            response_class=IdentifiedResponse,
        )

    async def _close_http(self) -> None:
        for old in self._draining:
            await old.close()
        self._draining.clear()
        if self.http is not None:
            await self.http.close()
            self.http = None


@contextlib.asynccontextmanager
async def _store(config: Config) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(config.store_path, config.store.synchronous)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@contextlib.contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    """One node per data folder: a second node on the same store would corrupt its processes' ordering."""
    handle = open(data_dir / "node.lock", "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConnectorError(
            "node.already_running", f"another node is already running on {data_dir}", "node.data_dir"
        ) from None
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


async def serve(config: Config) -> None:
    """Run a node until SIGINT or SIGTERM."""
    node = Node(config)
    _register_subsystems(node)
    await node.start()
    _tune_collector()
    try:
        await until_stopped()
        log.info("shutting down: finishing in-flight requests")
    finally:
        await node.stop()


# Allocations between collections of the youngest generation. Each negotiation allocates tens of thousands of
# short-lived objects (messages, records, rows), nearly all freed at once by reference counting; the default
# (700) starts a collection every few hundred of them, and every collection also walks what survived it.
GC_THRESHOLD = (20_000, 20, 20)


def _tune_collector() -> None:
    """A long-running server: what start-up loaded stays for good (frozen out of every later collection), and
    cyclic garbage is collected less often. Reference counting, which frees nearly everything, is untouched."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def _register_subsystems(node: Node) -> None:
    """Hook point where the control plane, trust, data plane and evidence attach themselves."""
    from connector.node import subsystems

    subsystems.attach(node)
