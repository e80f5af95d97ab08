"""Node configuration: TOML, validated at start, with environment overrides.

Each section is a frozen dataclass whose fields carry their own documentation and checks, so that the loader,
the error messages (which always name the key) and the README's configuration reference come from one place.

Environment variables override keys: ``CONNECTOR__<SECTION>__<KEY>`` (double underscores; e.g.
``CONNECTOR__MANAGEMENT__API_KEY``). Their values are read as TOML values when they parse as one (numbers,
booleans, arrays), and as plain strings otherwise.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.errors import ConfigError
from connector.participant import is_participant_id

ENV_PREFIX = "CONNECTOR__"
_REQUIRED = object()
EVIDENCE_ARCHIVES = "evidence-archives"  # the evidence archive folder below node.data_dir, unless set


@dataclass(frozen=True)
class Listen:
    """A host and port to listen on or to reach."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _doc(
    text: str,
    kind: str = "str",
    example: Any = None,
    check: Callable[[Any], str | None] | None = None,
    default: Any = _REQUIRED,
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    meta = {"doc": text, "kind": kind, "example": example, "check": check}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=meta)
    if default is _REQUIRED:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def _check_did(value: str) -> str | None:
    if not is_participant_id(value):
        return "must be a did:web DID such as did:web:localhost%3A8443:org-a"
    return None


def _check_level(value: str) -> str | None:
    return None if value in ("debug", "info", "warning", "error") else "must be debug, info, warning or error"


def _check_format(value: str) -> str | None:
    return None if value in ("text", "json") else "must be text or json"


def _check_sync(value: str) -> str | None:
    return None if value in ("normal", "full") else "must be normal or full"


def _check_positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than zero"


def _check_url(value: str) -> str | None:
    return None if re.match(r"^https?://[^\s/]+", value) else "must be an http(s) URL"


def _check_credential_types(value: tuple[str, ...]) -> str | None:
    if not all(re.match(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$", v) for v in value):
        return "must be credential type names such as MembershipCredential"
    return None


CLIENT_CERTIFICATE_MODES = ("required", "optional")


def _check_certificate_mode(value: str) -> str | None:
    return None if value in CLIENT_CERTIFICATE_MODES else "must be required or optional"


def _check_aliases(value: tuple[str, ...]) -> str | None:
    if not all(v and v == v.strip() and len(v) <= 512 for v in value):
        return "must be non-empty names without surrounding spaces (at most 512 characters)"
    if any(v.startswith("did:") for v in value):
        return "must not be DIDs (a DID names a participant itself; aliases are other names for it)"
    return None


def _check_api_key(value: str) -> str | None:
    if value and len(value) < 16:
        return "must be at least 16 characters (use a long random value)"
    return None


@dataclass(frozen=True)
class NodeSection:
    participant_id: str = _doc(
        "This node's participant id, a did:web DID; must equal the URI SAN of its certificate.",
        example="did:web:localhost%3A8443:org-a",
        check=_check_did,
    )
    name: str = _doc("Display name of the organisation.", default="")
    data_dir: Path = _doc(
        "Folder for the store and runtime files (created if missing).", kind="path", default=Path("var")
    )
    aliases: tuple[str, ...] = _doc(
        "Other names peers may use for this node as assigner or assignee of a policy (data-space identifiers "
        "such as a BPN); read as node.participant_id.",
        kind="strings",
        default=(),
        check=_check_aliases,
    )
    reuse_port: bool = _doc(
        "Open the protocol, management and data listeners with SO_REUSEPORT, so that several replicas of this "
        "node on one machine (same configuration, store.url on one PostgreSQL database) share their ports, the "
        "kernel spreading connections among them. Needs fixed ports, data.listen included.",
        kind="bool",
        default=False,
    )


@dataclass(frozen=True)
class IdentitySection:
    tls_cert: Path | None = _doc(
        "PEM certificate of this node (server and client authentication). Required unless protocol.insecure_http.",
        kind="file",
        default=None,
    )
    tls_key: Path | None = _doc("PEM private key of the TLS certificate.", kind="file", default=None)
    signing_key: Path | None = _doc("PEM private key used for tokens, signatures and seals.", kind="file", default=None)
    signing_cert: Path | None = _doc(
        "PEM certificate of the signing key, issued by the authority.", kind="file", default=None
    )
    credentials: tuple[Path, ...] = _doc(
        "Verifiable credentials (JWT files) this node presents.", kind="files", default=()
    )


@dataclass(frozen=True)
class ProtocolSection:
    listen: Listen = _doc(
        "Address of the protocol listener for peers (mutual TLS).", kind="listen", example="0.0.0.0:8443"
    )
    public_url: str = _doc(
        "Base URL under which peers reach this listener; defaults to the host of the participant id.",
        default="",
        check=lambda v: _check_url(v) if v else None,
    )
    insecure_http: bool = _doc(
        "Serve plain HTTP without TLS. Only for conformance-test profiles; the node "
        "refuses it unless set and warns loudly.",
        kind="bool",
        default=False,
    )
    client_certificate: str = _doc(
        "How peers authenticate on DSP routes and the credential service. 'required': a client certificate from "
        "a recognised authority, and the DCP token bound to it. 'optional': a peer without a client certificate "
        "is authenticated by DCP alone (its ID token, presentation and credentials, as EDC does); one that "
        "presents a certificate is still held to it. With 'optional' a peer's server certificate may also be an "
        "ordinary web certificate (system or trust.ca authorities) valid for the host reached. Needs "
        "[[trust.lists]].",
        default="required",
        check=_check_certificate_mode,
    )


def _check_origins(value: tuple[str, ...]) -> str | None:
    for origin in value:
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?", origin):
            return f"has {origin!r}, which is not an origin such as https://console.example:8443 (no path, no '*')"
    return None


@dataclass(frozen=True)
class ManagementSection:
    listen: Listen = _doc(
        "Address of the management listener (keep it on loopback or a private network).",
        kind="listen",
        default=Listen("127.0.0.1", 8181),
    )
    api_key: str = _doc("API key clients send in the X-Api-Key header.", default="", check=_check_api_key)
    api_key_file: Path | None = _doc("File holding the API key (alternative to api_key).", kind="file", default=None)
    tls_cert: Path | None = _doc(
        "PEM certificate to serve the management listener over HTTPS (needed on a non-loopback address).",
        kind="file",
        default=None,
    )
    tls_key: Path | None = _doc("PEM private key of management.tls_cert.", kind="file", default=None)
    allow_plain_http_remote: bool = _doc(
        "Serve the management API over plain HTTP on a non-loopback address (API keys cross the network in the "
        "clear; only behind a TLS-terminating proxy on a private network). Logged as a warning.",
        kind="bool",
        default=False,
    )
    metrics_public: bool = _doc(
        "Serve GET /metrics without the API key, for a Prometheus scraper that cannot send one (keep the "
        "management listener on a private network then). Off: /metrics needs the X-Api-Key header like the API.",
        kind="bool",
        default=False,
    )
    metrics_peers: int = _doc(
        "Peers named in metric labels: the first this many peers (the busiest, as the store counts them) keep their "
        "participant id as the `peer` label, any further peer is counted as `other`.",
        kind="int",
        default=50,
        check=lambda v: None if 1 <= v <= 10_000 else "must be between 1 and 10000",
    )
    cors_origins: tuple[str, ...] = _doc(
        "Browser origins (scheme://host[:port]) allowed to call the management API from their pages (CORS); "
        "empty: none, browsers refuse cross-origin calls. The API key is still required.",
        kind="strings",
        default=(),
        check=_check_origins,
    )
    console: bool = _doc(
        "Serve the web console at /console/ on this listener (sign in with the API key).", kind="bool", default=True
    )
    console_session_timeout: float = _doc(
        "Seconds a console session lasts without a request (at most 12 hours in all); then the operator signs in "
        "again.",
        kind="float",
        default=1800.0,
        check=_check_positive,
    )


def _check_count(value: int) -> str | None:
    return None if value >= 1 else "must be at least 1"


@dataclass(frozen=True)
class LimitsSection:
    """What one client may take of a listener: connections, concurrent requests, time and bytes."""

    max_connections: int = _doc(
        "Open connections a listener accepts in all; further connections are closed at once.",
        kind="int",
        default=1024,
        check=_check_count,
    )
    max_connections_per_peer: int = _doc(
        "Open connections one client may hold on a listener (a peer by its certificate, others by address).",
        kind="int",
        default=64,
        check=_check_count,
    )
    max_requests: int = _doc(
        "Requests a listener handles at once; more are answered 503 with Retry-After.",
        kind="int",
        default=512,
        check=_check_count,
    )
    max_requests_per_peer: int = _doc(
        "Requests one client may have in progress at once; more are answered 503 with Retry-After.",
        kind="int",
        default=32,
        check=_check_count,
    )
    header_timeout: float = _doc(
        "Seconds a new connection has to send its first complete request head.",
        kind="float",
        default=10.0,
        check=_check_positive,
    )
    idle_timeout: float = _doc(
        "Seconds an idle keep-alive connection is kept open; also bounds the head of every further request.",
        kind="float",
        default=30.0,
        check=_check_positive,
    )
    body_timeout: float = _doc(
        "Seconds a request body (a DSP or management message) has to arrive in full; for data pushed to this "
        "node, the longest pause between two pieces of it.",
        kind="float",
        default=30.0,
        check=_check_positive,
    )
    max_message_bytes: int = _doc(
        "Largest DSP, DCP or management message accepted, in bytes (refused by Content-Length before reading, "
        "and while reading).",
        kind="int",
        default=1024 * 1024,
        check=_check_count,
    )


def _check_territory(value: str) -> str | None:
    return None if re.fullmatch(r"[A-Z]{2}", value) else "must be a two-letter territory code such as DE"


@dataclass(frozen=True)
class TrustListEntry:
    file: Path = _doc(
        "The signed trust list of a federation: the JSON list (compact JWS) or an ETSI TS 119 612 trusted list "
        "(XML), or the EU list of trusted lists with territory; its last valid copy is kept in the store.",
        kind="path",
    )
    anchor: Path = _doc(
        "The certificate the list must be signed by (the pinned anchor): the federation's root CA certificate, or "
        "the EU list of trusted lists' signing certificate.",
        kind="file",
    )
    url: str = _doc(
        "Where a fresher copy is published (optional); fetched at start and every refresh interval.",
        default="",
        check=lambda v: _check_url(v) if v else None,
    )
    territory: str = _doc(
        "With file an EU list of trusted lists: the member state whose trusted list to take (as SchemeTerritory "
        "names it, e.g. DE); that list must be signed by a certificate the list of lists names for it.",
        default="",
        check=lambda v: _check_territory(v) if v else None,
    )
    territory_file: Path | None = _doc(
        "With territory: a copy of the member state's trusted list; without it the list is fetched from where "
        "the list of lists points.",
        kind="path",
        default=None,
    )


@dataclass(frozen=True)
class TrustSection:
    ca: tuple[Path, ...] = _doc(
        "PEM files of extra certificate authorities whose participants may connect "
        "(the CAs of the trust lists are always included).",
        kind="files",
        default=(),
    )
    crl: tuple[Path, ...] = _doc(
        "PEM certificate revocation lists, one per authority, reloaded when changed. Needed only for authorities "
        "whose certificates name no CRL distribution point: the others' CRLs are fetched from it (a file given "
        "for an authority is used instead of fetching).",
        kind="files",
        default=(),
    )
    lists: tuple[TrustListEntry, ...] = _doc(
        "Trust lists of the federations this node recognises (array of tables with file, anchor, url; territory "
        "and territory_file for an EU list of trusted lists).",
        kind="tables:TrustListEntry",
        default=(),
    )
    recognitions: tuple[Path, ...] = _doc(
        "Recognition statements (JWT files, `connector pki recognise`) by which this node's federation accepts "
        "credentials of another federation as its own; only those its own federation signed are applied.",
        kind="files",
        default=(),
    )
    reload_interval: float = _doc(
        "Seconds between checks of the node's identity, CRL and trust files for changes (a changed file is "
        "reloaded without a restart).",
        kind="float",
        default=5.0,
        check=_check_positive,
    )
    crl_max_age: float = _doc(
        "Seconds a CRL fetched from its authority's distribution point is used before it is fetched again: the "
        "longest a revoked certificate goes unnoticed.",
        kind="float",
        default=60.0,
        check=_check_positive,
    )
    crl_grace: float = _doc(
        "Seconds past crl_max_age a fetched CRL stays in force while its distribution point cannot be reached "
        "(logged at every failed attempt); after it, the authority's participants are refused until a CRL "
        "arrives.",
        kind="float",
        default=3600.0,
        check=lambda v: None if v >= 0 else "must be zero or more",
    )
    expiry_warning: float = _doc(
        "Seconds before something the node depends on expires (its certificates and credentials, trust lists, "
        "CRLs) that it starts warning about, in its log and its health probe.",
        kind="float",
        default=7 * 24 * 3600.0,
        check=_check_positive,
    )
    require_credentials: bool = _doc(
        "Refuse peers whose verifiable credentials cannot be verified (DCP). Off "
        "only for networks without trust lists.",
        kind="bool",
        default=True,
    )
    clock_skew: float = _doc(
        "Seconds of clock difference tolerated on tokens and credentials.", kind="float", default=30.0
    )
    token_lifetime: float = _doc(
        "Lifetime in seconds of the self-issued ID tokens this node sends.",
        kind="float",
        default=120.0,
        check=_check_positive,
    )
    max_token_lifetime: float = _doc(
        "Longest lifetime in seconds accepted for a peer's self-issued ID token (the DCP TCK issues 600 s tokens).",
        kind="float",
        default=600.0,
        check=_check_positive,
    )
    presentation_reuse: float = _doc(
        "Seconds a verified presentation of a peer may be reused (bounded by its own validity).",
        kind="float",
        default=300.0,
    )
    status_max_age: float = _doc(
        "Seconds a fetched status list is trusted before it is fetched again: the "
        "longest a revocation can go unnoticed.",
        kind="float",
        default=60.0,
        check=_check_positive,
    )
    credential_types: tuple[str, ...] = _doc(
        "Credential types asked of every peer (DCP scopes org.eclipse.dspace.dcp.vc.type:<type>:read).",
        kind="strings",
        default=("MembershipCredential", "OrganizationCredential"),
        check=_check_credential_types,
    )
    required_credential_types: tuple[str, ...] = _doc(
        "Credential types a peer must present, verified, for any "
        "DSP request to be accepted (with require_credentials).",
        kind="strings",
        default=("MembershipCredential",),
        check=_check_credential_types,
    )
    require_key_certificate: bool = _doc(
        "Demand that the key in a peer's DID document carries a certificate "
        "chain (x5c) to a CA of a recognised trust list. Off only for peers "
        "whose DID documents carry no certificates.",
        kind="bool",
        default=True,
    )
    list_refresh: float = _doc(
        "Seconds between fetches of the trust lists from their url.", kind="float", default=300.0, check=_check_positive
    )
    freshness_grace: float = _doc(
        "Seconds a CRL may be past its next update, or a trust list's URL fail to answer, before the node reports "
        "itself not ready (/check/readiness) naming it; an expired trust list or own certificate is at once.",
        kind="float",
        default=3600.0,
        check=lambda v: None if v >= 0 else "must be zero or more",
    )
    credential_service_origins: tuple[str, ...] = _doc(
        "Origins (https://host:port) where a peer's credential service may be besides its DID's own host (an "
        "identity hub); the verifier asks them without presenting this node's certificate.",
        kind="strings",
        default=(),
        check=lambda v: (
            None if all(_check_url(o) is None and o.startswith("https://") for o in v) else "must be https URLs"
        ),
    )


def _check_store_url(value: str) -> str | None:
    if not value:
        return None
    if not re.match(r"^postgres(ql)?://", value):
        return "must be a postgresql:// URL (or empty, for SQLite at store.path)"
    return None


def _check_pool_size(value: int) -> str | None:
    return None if 2 <= value <= 100 else "must be between 2 and 100"


@dataclass(frozen=True)
class StoreSection:
    path: Path = _doc(
        "SQLite database file; used when store.url is empty. Default: connector.sqlite in node.data_dir; a relative "
        "path written here is taken from the configuration file's folder, as every path in the file is.",
        kind="path",
        default=Path("connector.sqlite"),
    )
    synchronous: str = _doc(
        "SQLite durability: 'normal' survives a crashed process, 'full' also a lost machine at some cost per commit.",
        default="normal",
        check=_check_sync,
    )
    url: str = _doc(
        "PostgreSQL instead of SQLite: postgresql://user@host:port/database (a database of this node's own, "
        "created empty; the node creates its tables). Empty: SQLite at store.path.",
        default="",
        check=_check_store_url,
    )
    pool_size: int = _doc(
        "PostgreSQL connections the node keeps at most: one writes, the others read.",
        kind="int",
        default=4,
        check=_check_pool_size,
    )
    password_file: Path | None = _doc(
        "File holding the PostgreSQL password (so that it is neither in store.url nor in this file).",
        kind="file",
        default=None,
    )
    replica_lease: float = _doc(
        "PostgreSQL: seconds a replica's claims on work (deliveries of messages, pushes, checkpoints) outlive "
        "its last renewal, renewed every third of it; the work of a replica that died is taken over by another "
        "within about 1.3 times this.",
        kind="float",
        default=5.0,
        check=lambda v: None if 1 <= v <= 600 else "must be between 1 and 600",
    )
    sweep_interval: float = _doc(
        "PostgreSQL: seconds between a replica's sweeps for unfinished work that no replica holds (replicas wake "
        "each other with notifications; the sweep catches one that was lost).",
        kind="float",
        default=60.0,
        check=lambda v: None if 1 <= v <= 86400 else "must be between 1 and 86400",
    )


@dataclass(frozen=True)
class LogSection:
    level: str = _doc("Log level.", default="info", check=_check_level)
    format: str = _doc("'text' for people, 'json' for JSON lines.", default="text", check=_check_format)


@dataclass(frozen=True)
class DspSection:
    delivery_deadline: float = _doc(
        "Seconds an outgoing message is retried while the peer is unreachable or "
        "answers 5xx; then the process ends TERMINATED with that reason.",
        kind="float",
        default=300.0,
        check=_check_positive,
    )
    retry_initial: float = _doc(
        "First retry delay in seconds (doubles each attempt).", kind="float", default=0.2, check=_check_positive
    )
    retry_max: float = _doc(
        "Longest delay between two retries, in seconds.", kind="float", default=30.0, check=_check_positive
    )
    retry_not_found_for: float = _doc(
        "Seconds during which a 404 from a peer is retried like a 5xx (a peer that "
        "has not yet registered the process); 0 treats 404 as final.",
        kind="float",
        default=0.0,
    )
    message_spacing: float = _doc(
        "Minimum seconds between two messages of one process to the same peer.", kind="float", default=0.0
    )
    wait_deadline: float = _doc(
        "Seconds a process waits for its peer's next move (a negotiation short of its end, a transfer REQUESTED); "
        "then it ends TERMINATED and the peer is told.",
        kind="float",
        default=3600.0,
        check=_check_positive,
    )
    state_query_after: float = _doc(
        "Seconds a waiting process waits before it asks the peer for the process's state (GET "
        ".../negotiations|transfers/{pid}) and follows it where it ended; asked again at this interval until the "
        "wait deadline. 0: never asked.",
        kind="float",
        default=60.0,
        check=lambda v: None if v >= 0 else "must be zero or more",
    )
    catalog_page_size: int = _doc(
        "Datasets per catalogue page (more pages are linked with Link headers).",
        kind="int",
        default=100,
        check=lambda v: None if v > 0 else "must be positive",
    )


@dataclass(frozen=True)
class TckSection:
    enabled: bool = _doc(
        "Conformance-test profile: seeds the official TCK's datasets and agreements and follows "
        "its scripted behaviour. Never enable it in production.",
        kind="bool",
        default=False,
    )
    authorization: str = _doc(
        "The fixed Authorization header value the TCK sends; callers presenting it are treated as `participant`.",
        default="",
    )
    participant: str = _doc("Participant id given to the TCK.", default="TCK_PARTICIPANT")


_ROOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _check_roots(value: Mapping[str, Path] | None) -> str | None:
    bad = [name for name in value or {} if not _ROOT_NAME.fullmatch(name)]
    return f"has a root name {bad[0]!r} that is not letters, digits, _ . - (at most 64)" if bad else None


@dataclass(frozen=True)
class DataSection:
    listen: Listen | None = _doc(
        "Address of the data listener, where peers pull data and push it (mutual TLS). "
        "Default: the protocol listener's host, any free port (peers learn the "
        "endpoint from each transfer's data address).",
        kind="listen",
        default=None,
    )
    public_url: str = _doc(
        "Base URL under which peers reach the data listener; defaults to https:// with the "
        "host of the protocol's public URL and the bound data port.",
        default="",
        check=lambda v: _check_url(v) if v else None,
    )
    root: Path | None = _doc(
        "Folder that file assets are read below (the root named 'default'); nothing "
        "outside it, no symbolic link and no '..' is ever served.",
        kind="path",
        default=None,
    )
    roots: Mapping[str, Path] | None = _doc(
        "Further named folders for file assets (a table name = \"path\"); an asset names one in its source's 'root'.",
        kind="folders",
        default=None,
        check=_check_roots,
    )
    inbox: Path = _doc(
        "Folder where data pushed to this node is written. Default: inbox in node.data_dir; a relative path "
        "written here is taken from the configuration file's folder, as every path in the file is.",
        kind="path",
        default=Path("inbox"),
    )
    token_lifetime: float = _doc(
        "Seconds a pull token is valid; while the transfer is STARTED and its data not yet delivered in full, the "
        "consumer can get a fresh one.",
        kind="float",
        default=300.0,
        check=_check_positive,
    )
    standing_interval: float = _doc(
        "Seconds between two checks of the standing (certificate, credentials) of the peer of every stream in "
        "progress; a peer no longer in standing has its streams cut and its transfer ended.",
        kind="float",
        default=5.0,
        check=_check_positive,
    )
    client_certificate: str = _doc(
        "How the data listener authenticates pulls. 'required': the consumer's client certificate, to which its "
        "token is bound. 'optional': a pull without a client certificate is authenticated by its token alone (as "
        "EDC's data plane does); a token bound to a certificate still needs it. With 'optional' a data endpoint "
        "may also be served under an ordinary web certificate (system or trust.ca authorities).",
        default="required",
        check=_check_certificate_mode,
    )
    workers: int = _doc(
        "Worker threads for file reads and hashing.",
        kind="int",
        default=4,
        check=lambda v: None if 0 < v <= 64 else "must be between 1 and 64",
    )

    def file_roots(self) -> dict[str, Path]:
        """Every named root: `root` as 'default', then `roots`."""
        named = dict(self.roots or {})
        if self.root is not None:
            named.setdefault("default", self.root)
        return named


@dataclass(frozen=True)
class EvidenceSection:
    enabled: bool = _doc(
        "Keep the hash-chained evidence log (every DSP message, state change, policy decision, "
        "credential check and seal), sign agreements and write signed checkpoints. Needs the "
        "node's signing identity (not available with protocol.insecure_http).",
        kind="bool",
        default=True,
    )
    require_signatures: bool = _doc(
        "Refuse agreements the peer does not sign (the provider's signature, the "
        "consumer's countersignature). Off: peers that do not sign still interoperate "
        "and what is held is recorded as unsigned.",
        kind="bool",
        default=False,
    )
    checkpoint_interval: float = _doc(
        "Seconds between signed checkpoints of the log (written only when records "
        "were added; also on demand and at shutdown).",
        kind="float",
        default=300.0,
        check=_check_positive,
    )
    tsa_url: str = _doc(
        "RFC 3161 time-stamp authority every checkpoint is sent to (e.g. the federation "
        "authority's <public URL>/tsa); empty: checkpoints carry only the node's own time.",
        default="",
        check=lambda v: _check_url(v) if v else None,
    )
    tsa_certificates: tuple[Path, ...] = _doc(
        "PEM certificates a time-stamp must chain to (the TSA's CA); default: the CAs the node trusts.",
        kind="files",
        default=(),
    )
    archive_dir: Path | None = _doc(
        "Folder of the evidence archive files (connector evidence archive) and their signed manifests; default: "
        f"{EVIDENCE_ARCHIVES} below node.data_dir. Every reader and writer of the archives uses it: the node, "
        "evidence check, store backup and copy, export and import. Replicas on several machines must all name one "
        "shared folder here (a shared volume): the store records each archive, and a replica that cannot read its "
        "file finds the log broken there. A relative path is taken from the configuration file's folder.",
        kind="path",
        default=None,
        check=lambda v: "is not a folder" if v.exists() and not v.is_dir() else None,
    )
    require_seals: bool = _doc(
        "Refuse pulled data its provider does not seal. Off: from a provider whose data address offers no seal "
        "(EDC's data plane never seals) the data is kept and the transfer completed, recorded as unsealed.",
        kind="bool",
        default=False,
    )


@dataclass(frozen=True)
class PeerEntry:
    name: str = _doc("Short name to use on the command line.")
    address: str = _doc("The peer's DSP base URL.", check=_check_url, example="https://localhost:9443/dsp/2025-1")
    participant_id: str = _doc(
        "The peer's participant id (did:web).", default="", check=lambda v: _check_did(v) if v else None
    )
    aliases: tuple[str, ...] = _doc(
        "Other names of the peer as assigner or assignee of its policies (data-space identifiers such as a BPN); "
        "read as its participant_id, which they need.",
        kind="strings",
        default=(),
        check=_check_aliases,
    )


@dataclass(frozen=True)
class Config:
    node: NodeSection
    identity: IdentitySection
    protocol: ProtocolSection
    management: ManagementSection
    trust: TrustSection
    store: StoreSection
    log: LogSection
    dsp: DspSection = field(default_factory=DspSection)
    tck: TckSection = field(default_factory=TckSection)
    data: DataSection = field(default_factory=DataSection)
    evidence: EvidenceSection = field(default_factory=EvidenceSection)
    limits: LimitsSection = field(default_factory=LimitsSection)
    peers: tuple[PeerEntry, ...] = ()
    source: Path | None = None  # the file it came from
    # What the node offers ([regions], [[assets]], [[policies]], [[offers]]) as written: read and checked when
    # the node is put together (control.seeds), so that configuration stays a leaf that knows nothing of them.
    definitions: Mapping[str, Any] = field(default_factory=dict)
    base_dir: Path = Path(".")  # the folder relative paths in the file are taken from

    @property
    def store_path(self) -> Path:
        return self.store.path if self.store.path.is_absolute() else self.node.data_dir / self.store.path

    @property
    def evidence_archive_dir(self) -> Path:
        """The folder of the evidence archive files: evidence.archive_dir, or its default below node.data_dir."""
        return self.evidence.archive_dir or self.node.data_dir / EVIDENCE_ARCHIVES

    def store_password(self) -> str | None:
        """The PostgreSQL password from store.password_file, if one is set."""
        if self.store.password_file is None:
            return None
        return self.store.password_file.read_text().rstrip("\r\n")

    def management_api_key(self) -> str:
        if self.management.api_key_file is not None:
            return self.management.api_key_file.read_text().strip()
        return self.management.api_key

    def peer(self, name: str) -> PeerEntry | None:
        return next((p for p in self.peers if p.name == name), None)

    def party_aliases(self) -> dict[str, str]:
        """Alias -> the participant id it stands for: the node's own aliases and those of its peers."""
        found = {alias: self.node.participant_id for alias in self.node.aliases}
        for peer in self.peers:
            found.update((alias, peer.participant_id) for alias in peer.aliases)
        return found


SECTIONS: dict[str, type] = {
    "node": NodeSection,
    "identity": IdentitySection,
    "protocol": ProtocolSection,
    "management": ManagementSection,
    "trust": TrustSection,
    "store": StoreSection,
    "log": LogSection,
    "dsp": DspSection,
    "tck": TckSection,
    "data": DataSection,
    "evidence": EvidenceSection,
    "limits": LimitsSection,
}
TABLE_ARRAYS: dict[str, type] = {"peers": PeerEntry}
TABLE_KINDS: dict[str, type] = {"TrustListEntry": TrustListEntry}
# Sections kept as written and checked by the part of the node that owns them (see Config.definitions).
DEFINITION_SECTIONS = ("regions", "assets", "policies", "offers")


def parse_listen(value: Any, where: str) -> Listen:
    if not isinstance(value, str):
        raise ConfigError("config.type", "must be a string 'host:port'", where)
    match = re.match(r"^(\[(?P<v6>[0-9a-fA-F:]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$", value.strip())
    if not match:
        raise ConfigError("config.invalid", f"'{value}' is not 'host:port'", where)
    host = match.group("v6") or match.group("host")
    port = int(match.group("port"))
    if not 0 <= port < 65536:  # 0 = any free port
        raise ConfigError("config.invalid", f"port {port} is out of range 0-65535", where)
    if match.group("v6"):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError("config.invalid", f"'{host}' is not an IPv6 address", where) from None
    return Listen(host, port)


def _coerce(kind: str, value: Any, where: str, base: Path) -> Any:
    def want(types: type | tuple[type, ...], label: str) -> None:
        if not isinstance(value, types) or (
            isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,))
        ):
            raise ConfigError("config.type", f"must be {label}, not {type(value).__name__}", where)

    if kind == "str":
        want(str, "a string")
        return value
    if kind == "bool":
        want(bool, "true or false")
        return value
    if kind == "int":
        want(int, "an integer")
        return value
    if kind == "float":
        want((int, float), "a number")
        return float(value)
    if kind == "listen":
        return parse_listen(value, where)
    if kind in ("path", "file"):
        want(str, "a path string")
        path = Path(value).expanduser()
        path = path if path.is_absolute() else Path(os.path.normpath(base / path))  # no "config/../" in messages
        if kind == "file" and not path.is_file():
            raise ConfigError("config.missing_file", f"file not found: {path}", where)
        return path
    if kind.startswith("tables:"):
        item = TABLE_KINDS[kind.split(":", 1)[1]]
        if not isinstance(value, list):
            raise ConfigError("config.type", "must be an array of tables", where)
        return tuple(_build(item, v, f"{where}[{i}]", base) for i, v in enumerate(value))
    if kind == "strings":
        want(list, "a list of strings")
        if not all(isinstance(v, str) for v in value):
            raise ConfigError("config.type", "must be a list of strings", where)
        return tuple(value)
    if kind == "folders":
        if not isinstance(value, dict):
            raise ConfigError("config.type", "must be a table of names to folder paths", where)
        return {str(name): _coerce("path", path, f"{where}.{name}", base) for name, path in value.items()}
    if kind == "files":
        if isinstance(value, str):
            value = [value]
        want(list, "a list of path strings")
        return tuple(_coerce("file", v, f"{where}[{i}]", base) for i, v in enumerate(value))
    raise AssertionError(f"unknown config kind {kind}")


def _build(cls: type, data: Any, where: str, base: Path) -> Any:
    if not isinstance(data, dict):
        raise ConfigError("config.type", "must be a table", where)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError("config.unknown_key", f"unknown key '{key}' (known keys: {known})", f"{where}.{key}")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key_where = f"{where}.{name}"
        meta = f.metadata
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError("config.missing_key", "required key is missing", key_where)
            continue
        raw = data[name]
        kind = meta.get("kind", "str")
        value = _coerce(kind, raw, key_where, base)
        check = meta.get("check")
        if check is not None:
            problem = check(value)
            if problem:
                raise ConfigError("config.invalid", f"{raw!r} {problem}" if kind != "listen" else problem, key_where)
        values[name] = value
    return cls(**values)


def _env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Overlay CONNECTOR__SECTION__KEY variables onto the parsed TOML."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if len(parts) < 2:
            raise ConfigError("config.env", "environment override must be CONNECTOR__SECTION__KEY", name)
        target = out
        for part in parts[:-1]:
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError("config.env", f"'{part}' is not a table", name)
            target = nxt
        target[parts[-1]] = _env_value(text)
    return out


def load_config(path: Path | str, environ: Mapping[str, str] | None = None) -> Config:
    """Read, overlay and validate a configuration file; raises ConfigError naming the key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config.not_found", f"configuration file not found: {path}", str(path)) from None
    except IsADirectoryError:
        raise ConfigError("config.not_found", f"configuration path is a folder: {path}", str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config.syntax", f"not valid TOML: {exc}", str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError("config.syntax", f"not UTF-8 (invalid byte at position {exc.start})", str(path)) from None
    except RecursionError:  # the TOML parser's own bound, before it runs out of stack
        raise ConfigError("config.syntax", "not valid TOML: it nests arrays or tables too deeply", str(path)) from None
    except OSError as exc:
        raise ConfigError("config.unreadable", f"{path} cannot be read: {exc.strerror or exc}", str(path)) from None
    environ = os.environ if environ is None else environ
    raw = apply_env(raw, environ)
    try:
        return config_from_dict(raw, path.resolve().parent, source=path)
    except ConfigError as exc:
        variable = _overridden(environ, exc.where)
        if variable is None:
            raise
        raise ConfigError(exc.code, f"{exc.reason} (set by {variable})", exc.where) from None


def _overridden(environ: Mapping[str, str], where: str | None) -> str | None:
    """The environment variable that set the key `where` names (`log.level`), if one did: a mistake in it is not
    to be looked for in the file."""
    if not where:
        return None
    for name in environ:
        if name.startswith(ENV_PREFIX):
            parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
            if ".".join(parts) == where or where.startswith(".".join(parts) + "."):
                return name
    return None


def config_from_dict(raw: dict[str, Any], base: Path, source: Path | None = None) -> Config:
    known = set(SECTIONS) | set(TABLE_ARRAYS) | set(DEFINITION_SECTIONS)
    for key in raw:
        if key not in known:
            raise ConfigError(
                "config.unknown_key", f"unknown section '{key}' (known sections: {', '.join(sorted(known))})", key
            )
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        if name not in raw and _has_required(cls):
            raise ConfigError("config.missing_key", f"required section [{name}] is missing", name)
        sections[name] = _build(cls, raw.get(name, {}), name, base)
    peers = raw.get("peers", [])
    if not isinstance(peers, list):
        raise ConfigError("config.type", "must be an array of tables ([[peers]])", "peers")
    built_peers = tuple(_build(PeerEntry, p, f"peers[{i}]", base) for i, p in enumerate(peers))
    names = [p.name for p in built_peers]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ConfigError("config.invalid", f"peer name '{name}' is used twice", f"peers[{i}].name")
    definitions = {name: raw[name] for name in DEFINITION_SECTIONS if name in raw}
    node = sections["node"]
    data_dir = node.data_dir if node.data_dir.is_absolute() else base / node.data_dir
    sections["node"] = dataclasses.replace(node, data_dir=data_dir)
    config = Config(**sections, peers=built_peers, source=source, definitions=definitions, base_dir=base)
    _cross_checks(config)
    return config


def _has_required(cls: type) -> bool:
    return any(
        f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in dataclasses.fields(cls)
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cross_checks(config: Config) -> None:
    if not config.protocol.insecure_http:
        for key in ("tls_cert", "tls_key", "signing_key", "signing_cert"):
            if getattr(config.identity, key) is None:
                raise ConfigError("config.missing_key", "required key is missing", f"identity.{key}")
    elif not is_loopback(config.protocol.listen.host):
        raise ConfigError(
            "config.invalid", "plain HTTP (insecure_http) is only allowed on a loopback address", "protocol.listen"
        )
    m = config.management
    if not m.api_key and m.api_key_file is None:
        raise ConfigError(
            "config.missing_key", "set management.api_key or management.api_key_file", "management.api_key"
        )
    if m.api_key and m.api_key_file is not None:
        raise ConfigError(
            "config.invalid",
            "set only one of management.api_key and management.api_key_file",
            "management.api_key_file",
        )
    if m.api_key_file is not None and len(config.management_api_key()) < 16:
        raise ConfigError(
            "config.invalid", "the API key in the file must be at least 16 characters", "management.api_key_file"
        )
    if (m.tls_cert is None) != (m.tls_key is None):
        missing = "management.tls_key" if m.tls_key is None else "management.tls_cert"
        raise ConfigError("config.missing_key", "management TLS needs both tls_cert and tls_key", missing)
    if not is_loopback(m.listen.host) and m.tls_cert is None and not m.allow_plain_http_remote:
        raise ConfigError(
            "config.invalid",
            f"the management API would be served over plain HTTP on {m.listen.host}, a non-loopback address: "
            "set management.tls_cert and tls_key, or management.allow_plain_http_remote = true behind a "
            "TLS-terminating proxy on a private network",
            "management.listen",
        )
    if config.protocol.listen == m.listen:
        raise ConfigError(
            "config.invalid", "the protocol and management listeners need different ports", "management.listen"
        )
    if config.store.password_file is not None and not config.store.url:
        raise ConfigError(
            "config.invalid", "store.password_file is for PostgreSQL: set store.url too", "store.password_file"
        )
    if config.node.reuse_port:
        fixed: dict[str, Listen | None] = {"protocol.listen": config.protocol.listen, "management.listen": m.listen}
        if not config.protocol.insecure_http:
            fixed["data.listen"] = config.data.listen
        for key, listen in fixed.items():
            if listen is None or listen.port == 0:
                raise ConfigError(
                    "config.invalid",
                    "node.reuse_port needs a fixed port here: replicas sharing ports must all listen on the same one",
                    key,
                )
    if config.protocol.client_certificate == "optional" and not config.trust.lists:
        raise ConfigError(
            "config.invalid",
            "a peer without a client certificate can only be authenticated by DCP, against [[trust.lists]]; "
            "configure the trust lists of the federations you recognise, or keep 'required'",
            "protocol.client_certificate",
        )
    _check_alias_owners(config)


def _check_alias_owners(config: Config) -> None:
    """Every alias stands for exactly one participant."""
    owners: dict[str, str] = {alias: config.node.participant_id for alias in config.node.aliases}
    for i, peer in enumerate(config.peers):
        if peer.aliases and not peer.participant_id:
            raise ConfigError(
                "config.missing_key", "aliases name a participant: set the peer's participant_id", f"peers[{i}]"
            )
        for alias in peer.aliases:
            owner = owners.setdefault(alias, peer.participant_id)
            if owner != peer.participant_id:
                raise ConfigError(
                    "config.invalid", f"alias '{alias}' already stands for {owner}", f"peers[{i}].aliases"
                )


def reference_markdown() -> str:
    """The configuration reference, generated from the section definitions (README and `connector config`)."""
    lines: list[str] = []
    for name, cls in list(SECTIONS.items()) + [("[peers]", PeerEntry)]:
        lines.append(f"#### `[{name}]`\n")
        lines.append("| key | type | default | meaning |")
        lines.append("|---|---|---|---|")
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if f.default is not dataclasses.MISSING:
                default = "" if f.default in ("", (), None) else f"`{f.default}`"
            else:
                default = "required"
            lines.append(f"| `{f.name}` | {meta.get('kind', 'str')} | {default} | {meta.get('doc', '')} |")
        lines.append("")
    return "\n".join(lines)
