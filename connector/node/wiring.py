"""The composition root: the one module that builds a node from its configuration.

Every part is constructed complete, with what it needs as explicit arguments (ports where a part must not know
another's type): store, TLS and trust material, identity, outgoing HTTP, the trust service (holder, verifier),
evidence, the control plane, the data plane, and the three listeners' applications. Nothing else imports all of
them, and no part configures another. What a configuration does not use yet waits for its first use, so that an
idle node holds only what it runs: the console is made with the first request for one of its pages, the DCP
verifier's modules are loaded only with `[[trust.lists]]` and the TCK profile's only with `[tck]`, and within the
parts the metrics library, the API document, DCP's holder side (credentials, presentations, DIDs, tokens,
issuance), the DSP messages, the policy engine, both sides of the data plane, the kinds of data source, duty
receipts and the evidence export load when first asked for (tests/node/test_footprint.py names them).

Lifetimes are entered in start-up order on one exit stack and left in reverse. A stop first stops taking new
work (readiness fails, new DSP requests are answered 503 with Retry-After) and gives the steps and deliveries
under way DRAIN_GRACE seconds to finish, while the protocol listener still serves the DID document and the
credential service that peers need to verify these last messages; then it closes the listeners (requests in
progress finish), then the parts that send and record (control plane, trust records, data plane, evidence's last
checkpoint), then the background tasks, the outgoing session and last of all the store.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from connector import __version__
from connector.config import Config, is_loopback
from connector.console.deferred import DeferredConsole
from connector.control import claims_codec, seeds
from connector.control.catalog import CatalogueSettings
from connector.control.control_plane import ControlPlane
from connector.control.decisions import PolicyDecisions
from connector.dataplane.data_plane import LISTENER as DATA_LISTENER
from connector.dataplane.data_plane import DataPlane
from connector.dataplane.management import DataRoutes
from connector.duties.routes import DutyManagementRoutes, DutyProtocolRoutes
from connector.duties.service import DutyService
from connector.evidence.edge.routes import EvidenceRoutes
from connector.evidence.edge.service import NodeEvidence, signing_identity
from connector.evidence.recorder import no_evidence
from connector.identity import NodeIdentity, load_identity
from connector.management.app import HealthCheck, build_management_app
from connector.management.definition_routes import DefinitionRoutes
from connector.management.process_routes import ProcessRoutes
from connector.node.documents import AgreementDocuments
from connector.node.health import NodeHealth
from connector.node.listeners import Listener, exclusive, listen, open_store
from connector.node.reload import Reloader
from connector.observability.gauges import Gauges
from connector.observability.metrics import NodeMetrics
from connector.observability.observed import ObservedAuthenticator, ObservedDecisions, ObservedStore
from connector.observability.routes import MetricsRoutes
from connector.observability.tracing import from_environment as tracer_from_environment
from connector.policy.parties import PartyNames
from connector.policy.seam import Verdict
from connector.protocol.app import build_protocol_app
from connector.protocol.auth import Authenticator, CertificateAuthenticator, NoRefusalLog, StaticTokenAuthenticator
from connector.protocol.dsp import DspRoutes
from connector.protocol.version import version_routes
from connector.records.processes import Transfer
from connector.store.interface import Store
from connector.tasks import Tasks
from connector.telemetry import NO_TELEMETRY, Telemetry, Tracer
from connector.trust.edge import routes as trust_routes
from connector.trust.edge.crls import CrlKeeper
from connector.trust.edge.fetching import Fetcher
from connector.trust.edge.freshness import Freshness
from connector.trust.edge.holder import Holder
from connector.trust.edge.issuance import CredentialIssuance
from connector.trust.edge.replay import StoreReplayCache
from connector.trust.edge.service import TrustService, VerificationLog
from connector.trust.edge.standing import StandingService
from connector.trust.edge.trust_lists import TrustListKeeper
from connector.web.endpoints import PublicEndpoints
from connector.web.limits import Gate
from connector.web.middleware import TRACER
from connector.web.openapi import RouteGroup
from connector.web.outgoing import OutgoingHttp
from connector.web.peer_client import PeerClient
from connector.web.tls import PeerTls, server_only_context

if TYPE_CHECKING:
    from connector.control.tck import TckScript
    from connector.trust.edge.authenticator import DcpAuthenticator

log = logging.getLogger("connector.node")

DRAIN_GRACE = 5.0  # seconds the steps and deliveries under way get to finish when the node stops


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunningNode:
    """A started node: its parts, for the command line's `serve`, tests and benchmarks."""

    config: Config
    store: Store
    tasks: Tasks
    endpoints: PublicEndpoints
    outgoing: OutgoingHttp
    trust: TrustService
    control: ControlPlane
    authenticator: Authenticator
    tls: PeerTls | None = None
    identity: NodeIdentity | None = None
    evidence: NodeEvidence | None = None
    dataplane: DataPlane | None = None
    duties: DutyService | None = None
    health: NodeHealth | None = None
    listeners: dict[str, Listener] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)
    ready: bool = False
    reloader: Reloader | None = None
    metrics: NodeMetrics | None = None
    telemetry: Telemetry = NO_TELEMETRY
    gate: Gate = field(default_factory=Gate)  # closed when the node begins to stop: no new DSP work

    async def drain(self, grace: float = DRAIN_GRACE) -> None:
        """Begin to stop: not ready, no new DSP work, and what is under way gets `grace` seconds to finish (the
        first thing a stop does; `running` does it when its block ends)."""
        self.ready = False
        self.gate.close()
        await self.control.drain(grace)

    @property
    def participant_id(self) -> str:
        return self.config.node.participant_id

    # --- what the management probes report (management.app.NodeStatus) ---------------------------------------

    def listener_names(self) -> list[str]:
        return list(self.listeners)

    async def store_healthy(self) -> bool:
        return await self.store.healthy()

    async def health_checks(self) -> list[HealthCheck]:
        return await self.health.checks() if self.health is not None else []

    async def reload(self) -> None:
        """Re-read the identity files and the configuration's definitions (what SIGHUP does)."""
        if self.reloader is not None:
            await self.reloader.reload()

    def freshness(self) -> Freshness | None:
        """When the trust material the node depends on expires (None without a TLS identity)."""
        return self.trust.freshness() if self.tls is not None else None


class _ControlForData:
    """The data plane's `TransferControl` port. The control plane drives the data plane and the data plane
    reports back to it: the one cycle between parts, closed here once both exist (`to`)."""

    def __init__(self) -> None:
        self._control: ControlPlane | None = None

    def to(self, control: ControlPlane) -> None:
        self._control = control

    @property
    def control(self) -> ControlPlane:
        assert self._control is not None, "the control plane is made right after the data plane"
        return self._control

    def admission(self, tx: Any, transfer: Transfer) -> Verdict:
        return self.control.admission(tx, transfer)

    def note(
        self, tx: Any, transfer: Transfer, cause: str, why: str | None = None, detail: Mapping[str, Any] | None = None
    ) -> None:
        self.control.note(tx, transfer, cause, why, detail)

    async def transfer_command(self, transfer_id: str, action: str, reason: str | None) -> Any:
        return await self.control.transfer_command(transfer_id, action, reason)


@contextlib.asynccontextmanager
async def running(
    config: Config,
    clock: Callable[[], datetime] = _utcnow,
    tracer: Tracer | None = None,
    initialise: bool = False,
) -> AsyncIterator[RunningNode]:
    """Build and start a node; stop it when the block ends. `tracer`: where its spans go (default: as the
    standard OTEL_* variables say, which is nowhere unless they ask for traces). `initialise`: a store that is gone
    or empty although the data folder records one is replaced by a new, empty store (`connector serve
    --initialise`)."""
    started_at = time.monotonic()
    definitions = seeds.definitions(config)  # a mistake in the configuration stops us before anything opens
    insecure = config.protocol.insecure_http
    holding = not insecure and not config.tck.enabled
    verifying = holding and bool(config.trust.lists)
    metrics = NodeMetrics(config.node.participant_id, config.management.metrics_peers)
    if tracer is None:
        tracer = tracer_from_environment(config.node.participant_id)
    telemetry = Telemetry(metrics, tracer)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(telemetry.tracer.close)  # the last spans leave once everything stopped
        config.node.data_dir.mkdir(parents=True, exist_ok=True)
        stack.enter_context(exclusive(config.node.data_dir, shared=bool(config.store.url)))
        observed = ObservedStore(await stack.enter_async_context(open_store(config, initialise, replica=True)), metrics)
        store: Store = observed
        coordination = store.coordination  # how this process shares the node's work with its other replicas

        # TLS and identity (none in the plain-HTTP conformance profile).
        keeper = TrustListKeeper(config.trust.lists if verifying else (), config.trust.list_refresh, clock)
        crls = CrlKeeper(config.node.data_dir, config.trust.crl_max_age, config.trust.crl_grace, clock)
        tls: PeerTls | None = None
        identity: NodeIdentity | None = None
        if not insecure:
            assert config.identity.tls_cert is not None and config.identity.tls_key is not None
            tls = PeerTls(
                config.identity.tls_cert,
                config.identity.tls_key,
                config.trust.ca,
                config.trust.crl,
                keeper.ca_certificates,
                crls.paths,
                config.trust.crl_max_age + config.trust.crl_grace,
                tuple(entry.anchor for entry in config.trust.lists),
            )
            identity = load_identity(config, tls.cas)
        endpoints = PublicEndpoints(config)
        tasks = Tasks()
        certificate_optional = config.protocol.client_certificate == "optional"
        outgoing = OutgoingHttp(tls, accept_web_pki=certificate_optional)
        stack.push_async_callback(outgoing.close)
        stack.push_async_callback(tasks.stop)

        # Trust: this node as a holder, and as a verifier of its peers.
        records = VerificationLog(store, tasks)
        replay = StoreReplayCache()
        fetcher = Fetcher(outgoing, clock)
        crls.fetch = fetcher.get
        holder: Holder | None = None
        if holding:
            assert identity is not None
            holder = Holder(
                identity,
                endpoints,
                config.identity.credentials,
                config.trust,
                store,
                fetcher,
                replay,
                clock,
                records.record,
                certificate_optional=certificate_optional,
            )

        # Evidence: the hash-chained log, the agreement signer, checkpoints.
        evidence: NodeEvidence | None = None
        if config.evidence.enabled and identity is not None:
            evidence = NodeEvidence(
                signing_identity(identity),
                config.evidence,
                store,
                tls,
                outgoing,
                AgreementDocuments(store, holder, fetcher).for_agreement if holder is not None else None,
                clock,
                coordination,
                config.evidence_archive_dir,
            )
        elif config.evidence.enabled:
            log.warning("no evidence log: the node has no signing identity (protocol.insecure_http)")

        authenticator: Authenticator
        dcp: DcpAuthenticator | None = None
        if config.tck.enabled:
            authenticator = StaticTokenAuthenticator(config.tck.authorization, config.tck.participant)
        elif verifying:
            from connector.trust.edge.authenticator import DcpAuthenticator  # the verifier's modules: only with lists

            assert holder is not None
            dcp = DcpAuthenticator(
                config.trust, store, keeper, fetcher, holder, replay, clock, records, evidence or _NO_RECORDER
            )
            authenticator = dcp
        else:
            authenticator = CertificateAuthenticator()
        issuance = (
            CredentialIssuance(holder, fetcher, store, clock, keeper, config.limits.max_message_bytes)
            if holder is not None
            else None
        )
        if issuance is not None and holder is not None:
            # Credentials an issuer delivered to one replica are presented by every replica of the node.
            issuance.stored = lambda: coordination.signal("credentials", "stored")
            reload_credentials = holder.reload_stored

            def credentials_stored(_: str) -> None:
                tasks.spawn(reload_credentials(), "credentials-reload")

            coordination.on("credentials", credentials_stored)
        trust = TrustService(
            settings=config.trust,
            store=store,
            tasks=tasks,
            keeper=keeper,
            records=records,
            fetcher=fetcher if holding else None,
            holder=holder,
            authenticator=dcp,
            tls=tls,
            clock=clock,
            issuance=issuance,
            crls=crls if tls is not None else None,
        )

        # The two planes.
        peers = PeerClient(
            outgoing,
            holder.authorization_for if holder is not None else None,
            allow_http=insecure,
            tracer=telemetry.tracer,
        )
        parties = PartyNames(MappingProxyType(config.party_aliases()))
        policy = PolicyDecisions(regions=dict(definitions.regions), parties=parties)  # its regions follow a reload
        decisions = ObservedDecisions(policy, telemetry)
        forward = _ControlForData()
        dataplane: DataPlane | None = None
        duties: DutyService | None = None
        if not insecure:
            assert identity is not None and tls is not None
            # Usage duties: data received kept track of (deleted when due, never offered onward when so agreed),
            # fulfilment receipts signed, sent, accepted and fetched.
            duties = DutyService(
                store=store,
                participant_id=config.node.participant_id,
                tasks=tasks,
                peers=peers,
                anchors=lambda: list(tls.cas),
                roots=config.data.file_roots(),
                identity=signing_identity(identity),
                evidence=evidence.sink if evidence is not None else no_evidence,
                retry_initial=config.dsp.retry_initial,
                retry_max=config.dsp.retry_max,
                clock=clock,
            )
            # Data flows only while the peer stands as verified: its certificate, and its stored credentials
            # re-checked with the verifier's fetcher and caches (when this node verifies credentials).
            standing = StandingService(
                tls=tls, records=records, clock=clock, decode=claims_codec.from_json, verifier=dcp
            )
            dataplane = DataPlane(
                settings=config.data,
                data_dir=config.node.data_dir,
                protocol_host=config.protocol.listen.host,
                identity=identity,
                endpoints=endpoints,
                store=store,
                tasks=tasks,
                tls=tls,
                peers=peers,
                control=forward,
                standing=standing,
                evidence=evidence.sink if evidence is not None else no_evidence,
                duties=duties,
                limits=config.limits,
                protected_files=(config.store_path,),
                require_seals=config.evidence.require_seals,
                meter=metrics,
                coordination=coordination,
            )
        script: TckScript | None = None
        if config.tck.enabled:
            from connector.control import tck  # the conformance profile's parts: only with it

            script = tck.TckScript()
        control = ControlPlane(
            participant_id=config.node.participant_id,
            dsp=config.dsp,
            store=store,
            tasks=tasks,
            peers=peers,
            decisions=decisions,
            callback=endpoints.dsp,
            catalogue=CatalogueSettings(
                config.node.participant_id, endpoints.dsp, config.dsp.catalog_page_size, config.node.name
            ),
            definitions=definitions,
            dataplane=dataplane,
            evidence=evidence.sink if evidence is not None else no_evidence,
            signer=evidence.signer if evidence is not None else None,
            script=script,
            parties=parties,
            telemetry=telemetry,
            withhold=duties.withheld if duties is not None else None,
            http_callbacks=insecure,  # the plain-HTTP conformance profile, on loopback only
            coordination=coordination,
            clock=clock,
        )
        forward.to(control)
        if duties is not None:
            duties.on_change(control.catalog.invalidate)

        node = RunningNode(
            config=config,
            store=store,
            tasks=tasks,
            endpoints=endpoints,
            outgoing=outgoing,
            trust=trust,
            control=control,
            authenticator=authenticator,
            tls=tls,
            identity=identity,
            evidence=evidence,
            dataplane=dataplane,
            duties=duties,
            health=NodeHealth(
                store=observed.inner,  # its heartbeat is not one of the node's writes (`unwritable` counts those)
                settings=config.trust,
                keeper=keeper,
                records=records,
                clock=clock,
                tls=tls,
                identity=identity,
                unwritable=lambda: observed.unwritable,
            ),
            started_at=started_at,
            metrics=metrics,
            telemetry=telemetry,
        )

        # Start-up, before anyone can reach us; each part's stop is pushed so that it runs after the listeners
        # closed, in this order: control plane, trust records, data plane, evidence.
        await control.load_definitions()
        if config.tck.enabled:
            from connector.control import tck

            await store.run(tck.seed, config.node.participant_id, config.tck.participant)
        await trust.start()
        if dataplane is not None:
            await dataplane.open()
        if evidence is not None:
            await evidence.open()
            stack.push_async_callback(evidence.close)
        if dataplane is not None:
            stack.push_async_callback(dataplane.close)
        stack.push_async_callback(trust.stop)
        stack.push_async_callback(control.stop)
        node.reloader = Reloader(
            config, tls, identity, holder, dataplane, evidence, control, policy, definitions.regions
        )
        node.reloader.on_identity = lambda fresh: setattr(node, "identity", fresh)
        tasks.spawn(node.reloader.watch(config.trust.reload_interval), "identity-reload")

        # The listeners.
        protocol = version_routes(config.node.participant_id, config.protocol.client_certificate)
        verifier = ObservedAuthenticator(authenticator, telemetry)  # timed, its refusals counted
        protocol += DspRoutes(control, verifier, evidence or NoRefusalLog(), config.limits).routes()
        if holder is not None:
            protocol += trust_routes.protocol_routes(holder, issuance)
        if duties is not None:
            protocol += DutyProtocolRoutes(duties, authenticator.authenticate, config.limits).routes()
        if config.tck.enabled:
            from connector.protocol.tck_webhooks import tck_routes

            protocol += tck_routes(control)
        if insecure:
            log.warning(
                "INSECURE: the protocol listener serves plain HTTP without TLS or peer authentication "
                "(protocol.insecure_http = true); use this only for conformance tests on loopback"
            )
        groups: list[RouteGroup] = [
            DefinitionRoutes(
                store,
                control.catalog.invalidate,
                definitions.regions,
                definitions,
                config.source,
                duties.vet_asset if duties is not None else None,
                roots=config.data.file_roots(),
            ).group(),
            ProcessRoutes(control, config.peers, duties.before_complete if duties is not None else None).group(),
            DataRoutes(dataplane).group(),
            trust_routes.management_routes(trust),
            EvidenceRoutes(evidence, store).group(),
            MetricsRoutes(metrics, Gauges(store, lambda: trust.expiries(identity), metrics.peers, clock)).group(
                config.management.metrics_public
            ),
        ]
        if config.management.console:
            console = DeferredConsole(config, lambda: node.listeners["management"].port, tasks.spawn)
            groups.append(console.group())
            stack.push_async_callback(console.close)
        if duties is not None:
            groups.append(DutyManagementRoutes(duties).group())
        await _listen(
            stack,
            node,
            "protocol",
            config.protocol.listen,
            build_protocol_app(tls, protocol, config.limits, certificate_optional, node.gate),
            tls.listener_context(check_crl=False) if tls is not None else None,
        )
        await _listen(
            stack,
            node,
            "management",
            config.management.listen,
            build_management_app(
                config.management_api_key(), node, groups, config.limits, config.management.cors_origins
            ),
            _management_tls(config),
        )
        if dataplane is not None:
            assert tls is not None
            await _listen(
                stack,
                node,
                DATA_LISTENER,
                dataplane.listen,
                dataplane.build_app(),
                tls.listener_context(require_client_cert=config.data.client_certificate == "required"),
            )

        # Reachable: resume what was left unfinished, start the background work. A stop drains first (pushed
        # last, so run first): while the listeners still serve, the last messages go out.
        stack.push_async_callback(node.drain)
        await control.resume()
        if dcp is None:
            why = (
                "the TCK profile is on"
                if config.tck.enabled
                else "the protocol listener is plain HTTP"
                if insecure
                else "no [[trust.lists]] are configured"
            )
            who = (
                "the TCK's fixed Authorization value names its participant"
                if config.tck.enabled
                else "the TLS certificate alone identifies a peer"
            )
            log.warning(
                "peers' credentials are not verified (%s): %s",
                why,
                who,
                extra={"participant_id": config.node.participant_id},
            )
        trust.run()
        if dataplane is not None:
            await dataplane.after_listening()
        if duties is not None:
            duties.run()
        if evidence is not None:
            evidence.run(tasks)
        await coordination.start()
        node.ready = True
        log.info(
            "node started",
            extra={
                "participant_id": config.node.participant_id,
                "replica": coordination.replica,
                "version": __version__,
                "protocol": endpoints.protocol(),
                "management": str(config.management.listen),
                "startup_ms": round((time.monotonic() - started_at) * 1000, 1),
            },
        )
        try:
            yield node
        finally:
            node.ready = False
    log.info("node stopped", extra={"participant_id": config.node.participant_id})


async def _listen(
    stack: contextlib.AsyncExitStack,
    node: RunningNode,
    name: str,
    address: Any,
    app: web.Application,
    ssl_context: Any,
) -> None:
    app[TRACER] = node.telemetry.tracer
    listener = await listen(stack, name, address, app, ssl_context, node.config.limits, node.config.node.reuse_port)
    node.listeners[name] = listener
    node.endpoints.bound(name, listener.port)


def _management_tls(config: Config) -> ssl.SSLContext | None:
    """HTTPS for the management listener when configured (no client certificate: the API key authenticates);
    plain HTTP on a non-loopback address only when the operator said so, and then with a warning."""
    m = config.management
    if m.tls_cert is not None and m.tls_key is not None:
        return server_only_context(m.tls_cert, m.tls_key)
    if not is_loopback(m.listen.host):
        log.warning(
            "the management API is served over plain HTTP on %s (management.allow_plain_http_remote): API keys "
            "cross the network in the clear unless a TLS-terminating proxy sits in front",
            m.listen,
        )
    return None


class _NoRecorder:
    async def record(self, kind: str, **kw: Any) -> None:
        return None


_NO_RECORDER = _NoRecorder()
