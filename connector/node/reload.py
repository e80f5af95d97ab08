"""Reloading a running node without a restart.

What is re-read, and when:

- its identity: the TLS certificate and key (every listener's context and the outgoing one), the signing key and
  certificate (tokens, the DID document, agreement signatures, seals, checkpoints), the credential files, and
  with them the CA and CRL files: when any of these files changes (their modification time and size are checked
  every ``trust.reload_interval``), and on SIGHUP;
- what it offers: the ``[[assets]]``, ``[[policies]]``, ``[[offers]]`` and ``[regions]`` of its configuration
  file, on SIGHUP (other settings need a restart; a change to them is logged as such).

Nothing in flight is dropped: a handshake under way finishes on the context it began with, a connection open
before keeps its certificate, pull tokens signed with the previous signing key stay valid while they live, and
steps in progress run on. New material is checked as at start (the certificate names this participant and
chains to a trusted authority, each key matches its certificate, every credential is about this participant);
when it does not hold, the reload is refused with the reason in the log and the node keeps what it had, trying
again at the next change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.config import Config, load_config
from connector.control import seeds
from connector.control.control_plane import ControlPlane
from connector.control.decisions import PolicyDecisions
from connector.dataplane.data_plane import DataPlane
from connector.errors import ConnectorError
from connector.evidence.edge.service import NodeEvidence, signing_identity
from connector.identity import NodeIdentity, load_identity
from connector.trust.edge.holder import Holder
from connector.web.tls import PeerTls, file_stamp

log = logging.getLogger("connector.node")


@dataclass
class Reloader:
    """The parts a reload reaches, and what it last read."""

    config: Config
    tls: PeerTls | None
    identity: NodeIdentity | None
    holder: Holder | None
    dataplane: DataPlane | None
    evidence: NodeEvidence | None
    control: ControlPlane
    decisions: PolicyDecisions
    regions: Mapping[str, frozenset[str]]  # the live mapping the management API validates policies against
    on_identity: Callable[[NodeIdentity], None] = lambda identity: None
    _stamp: tuple[Any, ...] = field(default=(), init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    def __post_init__(self) -> None:
        self._stamp = self._files_stamp()

    def _identity_files(self) -> tuple[Path, ...]:
        ident = self.config.identity
        named = (ident.tls_cert, ident.tls_key, ident.signing_cert, ident.signing_key, *ident.credentials)
        return tuple(p for p in named if p is not None)

    def _files_stamp(self) -> tuple[Any, ...]:
        return file_stamp(self._identity_files())

    def identity_changed(self) -> bool:
        return self._files_stamp() != self._stamp

    # --- identity ------------------------------------------------------------------------------------------------

    async def reload_identity(self) -> bool:
        """Re-read the identity, TLS and trust files; True if the node now uses what they hold."""
        async with self._lock:
            stamp = self._files_stamp()
            tls = self.tls
            if tls is None:
                self._stamp = stamp
                return False
            try:
                identity = load_identity(self.config, tls.cas)
                tls.rebuild()  # this node's certificate and key, the anchors and the CRLs
            except ConnectorError as exc:
                log.error(
                    "identity files changed but cannot be used; the node keeps the ones it has: %s",
                    exc.reason,
                    extra={"code": exc.code, "where": exc.where},
                )
                self._stamp = stamp  # tried again at the next change
                return False
            previous = self.identity
            rotated = previous is None or (
                identity.tls_cert != previous.tls_cert or identity.signing_cert != previous.signing_cert
            )
            if rotated:
                self._use(identity)
            if self.holder is not None:
                try:
                    await self.holder.load_credentials()
                except ConnectorError as exc:
                    log.error(
                        "credential files changed but cannot be used; the node presents the ones it had: %s",
                        exc.reason,
                        extra={"code": exc.code, "where": exc.where},
                    )
            self._stamp = stamp
            log.info(
                "identity reloaded",
                extra={
                    "tls_serial": f"{identity.tls_cert.serial_number:x}",
                    "signing_serial": f"{identity.signing_cert.serial_number:x}",
                    "rotated": rotated,
                },
            )
            return True

    def _use(self, identity: NodeIdentity) -> None:
        self.identity = identity
        if self.holder is not None:
            self.holder.use_identity(identity)
        if self.dataplane is not None:
            self.dataplane.use_identity(identity)
        if self.evidence is not None:
            self.evidence.use_identity(signing_identity(identity))
        self.on_identity(identity)

    # --- what the node offers -----------------------------------------------------------------------------------------

    async def reload_definitions(self) -> bool:
        """Re-read the configuration file's assets, policies, offers and regions and apply them."""
        if self.config.source is None:
            return False
        try:
            fresh = load_config(self.config.source)
            defined = seeds.definitions(fresh)
        except ConnectorError as exc:
            log.error(
                "the configuration cannot be reloaded; the node keeps what it offers: %s",
                exc.reason,
                extra={"code": exc.code, "where": exc.where},
            )
            return False
        previous = self.control.definitions
        self.decisions.regions = dict(defined.regions)
        if isinstance(self.regions, dict):  # the management API's policy checks follow the regions too
            self.regions.clear()
            self.regions.update(defined.regions)
        self.control.definitions = defined
        try:
            await self.control.load_definitions()
        except ConnectorError as exc:
            log.error("the configured definitions could not be applied: %s", exc.reason, extra={"where": exc.where})
            return False
        self.control.catalog.invalidate()
        gone = {
            kind: sorted({d.id for d in getattr(previous, kind)} - {d.id for d in getattr(defined, kind)})
            for kind in ("assets", "policies", "offers")
        }
        if any(gone.values()):
            log.warning(
                "definitions no longer in the configuration stay as they are (remove them with the management API)",
                extra={k: v for k, v in gone.items() if v},
            )
        changed = [
            name
            for name in ("node", "identity", "protocol", "management", "store", "data", "limits")
            if getattr(fresh, name) != getattr(self.config, name)
        ]
        if changed:
            log.warning(
                "settings changed in the configuration take effect at the next start", extra={"sections": changed}
            )
        log.info(
            "configuration reloaded",
            extra={"assets": len(defined.assets), "policies": len(defined.policies), "offers": len(defined.offers)},
        )
        return True

    # --- triggers ----------------------------------------------------------------------------------------------------

    async def reload(self) -> None:
        """What SIGHUP does: the identity and the definitions."""
        log.info("reloading (SIGHUP)")
        await self.reload_identity()
        await self.reload_definitions()

    async def watch(self, interval: float) -> None:
        """Reload the identity when its files change; the TLS material alone when only the CA or CRL files did."""
        while True:
            await asyncio.sleep(interval)
            if self.identity_changed():
                await self.reload_identity()
            elif self.tls is not None and self.tls.files_changed():
                self.tls.try_rebuild()
