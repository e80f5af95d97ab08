"""The node's resources with a lifetime of their own: its data folder's lock, its store, its listeners.

Replicas of one node (the same configuration, a PostgreSQL store) share their data folder (its lock is then shared)
and, with `node.reuse_port`, their listeners' ports: each replica opens its own listening sockets with
SO_REUSEPORT, and the kernel spreads incoming connections among the replicas still listening."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from connector.config import Config, LimitsSection, Listen
from connector.errors import ConnectorError
from connector.node.store_identity import Marker, gone, settle
from connector.store.errors import StoreError
from connector.store.interface import Store
from connector.store.sqlite import SqliteStore
from connector.web.limits import GuardedSite

SHUTDOWN_GRACE = 10.0  # seconds in-flight requests get to finish when a listener closes
# Seconds the rest of a refused body is read and dropped after the answer, so that the client can read the
# answer before the connection closes (closing with unread data would reset it).
LINGER = 2.0


@dataclass
class Listener:
    name: str
    listen: Listen
    runner: web.AppRunner
    site: GuardedSite

    @property
    def port(self) -> int:
        """The bound port (useful when the configuration asked for port 0)."""
        server = self.site._server
        sockets = getattr(server, "sockets", None)
        if sockets:
            port: int = sockets[0].getsockname()[1]
            return port
        return self.listen.port


async def listen(
    stack: contextlib.AsyncExitStack,
    name: str,
    address: Listen,
    app: web.Application,
    ssl_context: ssl.SSLContext | None,
    limits: LimitsSection,
    reuse_port: bool = False,
) -> Listener:
    """Serve `app` on `address` until `stack` closes, within `limits` (sharing the port with other processes that
    listen on it with `reuse_port` too); a port in use or unavailable is a ConnectorError."""
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_GRACE,
        keepalive_timeout=limits.idle_timeout,
        lingering_time=min(LINGER, limits.body_timeout),
    )
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = GuardedSite(runner, address.host, address.port, limits, ssl_context=ssl_context, reuse_port=reuse_port)
    try:
        await site.start()
    except OSError as exc:
        key = f"{name}.listen"
        if exc.errno == errno.EADDRINUSE:
            shared = " by a process that does not share it (node.reuse_port)" if reuse_port else ""
            raise ConnectorError(
                "listen.in_use", f"port {address.port} on {address.host} is already in use{shared}", key
            ) from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            raise ConnectorError("listen.unavailable", f"cannot listen on {address}: {exc.strerror}", key) from None
        raise ConnectorError("listen.failed", f"cannot listen on {address}: {exc}", key) from None
    return Listener(name, address, runner, site)


@contextlib.asynccontextmanager
async def open_store(config: Config, initialise: bool = False, replica: bool = False) -> AsyncIterator[Store]:
    """The node's store: PostgreSQL when store.url is set, else SQLite at store.path; checked (intact, the one the
    data folder's marker records, not newer than this program) before anything uses it. A missing or empty store
    is created only on the node's first start, or when `initialise` says a new one is meant. A `replica` (a running
    node) shares a PostgreSQL database with the other replicas of its node; otherwise the caller has it to itself."""
    data_dir = config.node.data_dir
    marker = Marker.read(data_dir)
    create = initialise or marker is None
    store: Store
    if config.store.url:
        from connector.store.postgres import PostgresStore, describe  # psycopg is loaded only by nodes that use it

        where, key = describe(config.store.url), "store.url"
        store = PostgresStore(
            config.store.url,
            config.store.pool_size,
            config.store_password(),
            create=create,
            node=config.node.participant_id if replica else None,
            lease=config.store.replica_lease,
            sweep_interval=config.store.sweep_interval,
        )
    else:
        where, key = str(config.store_path), "store.path"
        store = SqliteStore(config.store_path, config.store.synchronous, create=create)
    try:
        await store.open()
    except ConnectorError as exc:
        if marker is not None and exc.code in ("store.missing", "store.empty"):
            raise gone(marker, where, key, Marker.path(data_dir)) from None
        raise
    except StoreError as exc:
        raise ConnectorError("store.unavailable", f"cannot open the store {where}: {exc}", key) from None
    try:
        await settle(store, data_dir, config.node.participant_id, where, key, marker, initialise)
        yield store
    finally:
        await store.close()


@contextlib.contextmanager
def exclusive(data_dir: Path, shared: bool = False) -> Iterator[None]:
    """One node per data folder: a second node on the same SQLite store would corrupt its processes' ordering.
    `shared`: the replicas of a node whose store is PostgreSQL share the folder (and keep out a node that would
    have it to itself)."""
    handle = open(data_dir / "node.lock", "a+")
    try:
        fcntl.flock(handle.fileno(), (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConnectorError(
            "node.already_running",
            f"another node is already running on {data_dir}"
            + (" without sharing it (its store is not this PostgreSQL database)" if shared else ""),
            "node.data_dir",
        ) from None
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()
