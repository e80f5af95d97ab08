"""TLS for peers: mutual authentication against the trust anchors, with revocation, reloaded without restart.

OpenSSL fixes a context's trust store once handshakes use it, and with several CRLs of one issuer it keeps the
first. So a reload builds a fresh context, and the listener's context hands every new handshake to the newest
one from its SNI callback (called whether or not the client sends SNI). Connections that stay open across a
revocation are caught by `TrustMaterial.is_revoked`, which the request middleware checks on every request.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from connector import keys
from connector.errors import ConnectorError
from connector.pki.certificates import crl_url_of

log = logging.getLogger("connector.tls")
CrlSigningKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

# Modern suites only; TLS 1.3 suites are fixed by OpenSSL and all acceptable.
_TLS12_CIPHERS = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305"


def file_stamp(paths: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in paths:
        try:
            st = path.stat()
            out.append((str(path), st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            out.append((str(path), -1, -1))
    return tuple(out)


def content_stamp(paths: Iterable[Path]) -> tuple[tuple[str, str], ...]:
    """What files hold (their SHA-256), for files rewritten with the same content as a matter of course: a CRL
    fetched again is written again (its time is the copy's age), and only a different CRL is a change."""
    out = []
    for path in paths:
        try:
            out.append((str(path), hashlib.sha256(path.read_bytes()).hexdigest()))
        except OSError:
            out.append((str(path), ""))
    return tuple(out)


@dataclass
class TrustMaterial:
    """CA certificates and their CRLs as loaded from files, checked for consistency.

    A CA's CRL comes from a configured file (`crl_paths`, which must be valid: a problem stops the node) or, for a
    CA whose certificate names a CRL Distribution Point, from a copy fetched from there (`fetched`: files written
    by the trust edge; one that does not verify, has expired or is older than `fetched_max_age` seconds is left
    out). A CA with a distribution point but no CRL in force yet is *pending*: its participants are refused
    (OpenSSL finds no CRL for them; `revocation_unknown` tells the request middleware) until one arrives. A CA
    with neither is a configuration error, as before."""

    ca_paths: tuple[Path, ...]
    crl_paths: tuple[Path, ...]
    extra_cas: tuple[x509.Certificate, ...] = ()
    fetched: tuple[Path, ...] = ()
    fetched_max_age: float | None = None
    cas: list[x509.Certificate] = field(default_factory=list)
    crls: list[x509.CertificateRevocationList] = field(default_factory=list)
    crl_files: tuple[Path, ...] = ()  # the CRL files in force (what OpenSSL loads)
    revoked: dict[bytes, frozenset[int]] = field(default_factory=dict)  # issuer DER name -> serials
    configured_issuers: frozenset[bytes] = frozenset()  # CAs whose CRL is a configured file
    pending: frozenset[bytes] = frozenset()  # CAs (DER names) whose CRL is expected from the network
    stamp: tuple = ()

    def load(self) -> TrustMaterial:
        cas: list[x509.Certificate] = list(self.extra_cas)
        for path in self.ca_paths:
            cas.extend(keys.load_certificates(path))
        if not cas:
            raise ConnectorError("tls.no_anchor", "no certificate authority is configured", "trust.ca")
        crls: list[x509.CertificateRevocationList] = []
        for path in self.crl_paths:
            try:
                crls.append(x509.load_pem_x509_crl(path.read_bytes()))
            except FileNotFoundError:
                raise ConnectorError("tls.crl_missing", f"CRL file not found: {path}", "trust.crl") from None
            except ValueError as exc:
                raise ConnectorError("tls.crl_invalid", f"not a PEM CRL: {path} ({exc})", "trust.crl") from None
        revoked: dict[bytes, set[int]] = {}
        now = datetime.now(UTC)
        for crl, path in zip(crls, self.crl_paths):
            issuer = next((c for c in cas if c.subject == crl.issuer), None)
            if issuer is None:
                raise ConnectorError("tls.crl_issuer", f"CRL {path} is not from any configured authority", "trust.crl")
            if not crl.is_signature_valid(crl_issuer_key(issuer)):
                raise ConnectorError("tls.crl_signature", f"CRL {path} is not signed by its authority", "trust.crl")
            if crl.next_update_utc is not None and crl.next_update_utc < now:
                raise ConnectorError(
                    "tls.crl_expired",
                    f"CRL {path} expired on {crl.next_update_utc:%Y-%m-%d}; re-sign it with 'connector pki crl'",
                    "trust.crl",
                )
            bucket = revoked.setdefault(crl.issuer.public_bytes(), set())
            bucket.update(r.serial_number for r in crl)
        configured = frozenset(crl.issuer.public_bytes() for crl in crls)
        files = list(self.crl_paths)
        for crl, path in self._fetched(cas, configured, now):
            crls.append(crl)
            files.append(path)
            revoked.setdefault(crl.issuer.public_bytes(), set()).update(r.serial_number for r in crl)
        covered = {crl.issuer.public_bytes() for crl in crls}
        uncovered = [c for c in cas if c.subject.public_bytes() not in covered]
        missing = [c for c in uncovered if crl_url_of(c) is None]
        if missing:
            names = ", ".join(c.subject.rfc4514_string() for c in missing)
            raise ConnectorError("tls.crl_missing", f"no CRL configured for authority {names}", "trust.crl")
        self.cas, self.crls, self.crl_files = cas, crls, tuple(files)
        self.configured_issuers = configured
        self.pending = frozenset(c.subject.public_bytes() for c in uncovered)
        self.revoked = {k: frozenset(v) for k, v in revoked.items()}
        self.stamp = self._stamp()
        return self

    def _stamp(self) -> tuple[Any, ...]:
        # Fetched CRLs by content: the trust edge refreshes them every crl_max_age, most often with the same CRL,
        # and a rebuild for nothing would drop every pooled connection and session cache.
        return file_stamp(self.ca_paths + self.crl_paths) + content_stamp(self.fetched)

    def _fetched(
        self, cas: list[x509.Certificate], configured: frozenset[bytes], now: datetime
    ) -> list[tuple[x509.CertificateRevocationList, Path]]:
        """The newest usable fetched CRL of each CA that has no configured one."""
        best: dict[bytes, tuple[x509.CertificateRevocationList, Path]] = {}
        for path in self.fetched:
            try:
                if self.fetched_max_age is not None and time.time() - path.stat().st_mtime > self.fetched_max_age:
                    continue
                crl = x509.load_pem_x509_crl(path.read_bytes())
            except (OSError, ValueError):
                continue
            name = crl.issuer.public_bytes()
            issuer = next((c for c in cas if c.subject == crl.issuer), None)
            if name in configured or issuer is None or crl_url_of(issuer) is None:
                continue
            if not crl.is_signature_valid(crl_issuer_key(issuer)):
                continue
            if crl.next_update_utc is not None and crl.next_update_utc < now:
                continue
            if name not in best or _crl_number(crl) > _crl_number(best[name][0]):
                best[name] = (crl, path)
        return list(best.values())

    def changed(self) -> bool:
        return self._stamp() != self.stamp

    def is_revoked(self, cert: x509.Certificate) -> bool:
        serial = cert.serial_number
        # Asked on every request: a serial no CRL lists needs no look at the issuer (encoding it costs).
        if not any(serial in serials for serials in self.revoked.values()):
            return False
        return serial in self.revoked.get(cert.issuer.public_bytes(), frozenset())

    def revocation_unknown(self, cert: x509.Certificate) -> bool:
        """Whether no CRL of the certificate's authority is in force (it is expected from the network)."""
        return bool(self.pending) and cert.issuer.public_bytes() in self.pending

    def cadata(self) -> str:
        return "".join(keys.cert_pem(c).decode() for c in self.cas)


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        return -1


def crl_issuer_key(issuer: x509.Certificate) -> CrlSigningKey:
    """The issuer's public key, of a kind that can sign a CRL (else the CRL cannot be its); ConnectorError if not."""
    key = issuer.public_key()
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise ConnectorError("tls.crl_signature", "the authority's key cannot sign CRLs", "trust.crl")
    return key


def _base_context(purpose: int) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(_TLS12_CIPHERS)
    return ctx


def _add_trust(ctx: ssl.SSLContext, trust: TrustMaterial, check_crl: bool = True) -> None:
    ctx.load_verify_locations(cadata=trust.cadata())
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    if not check_crl:
        return
    for path in trust.crl_files:  # OpenSSL takes CRLs from files only
        try:
            ctx.load_verify_locations(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise ConnectorError("tls.crl_invalid", f"OpenSSL cannot load the CRL {path}: {exc}", "trust.crl") from None
    ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF


def _load_chain(ctx: ssl.SSLContext, cert: Path, key: Path) -> None:
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConnectorError(
            "tls.identity", f"cannot load the TLS certificate and key: {exc}", "identity.tls_cert"
        ) from None


def server_context(
    cert: Path, key: Path, trust: TrustMaterial, require_client_cert: bool = False, check_crl: bool = True
) -> ssl.SSLContext:
    """A server context that asks every client for a certificate (optional at TLS level for the open routes;
    the middleware requires it everywhere else).

    With `check_crl=False` OpenSSL still verifies the chain and validity, but a revoked certificate completes
    the handshake and the request middleware answers it with a clear 401 ("revoked") instead of a reset
    connection the client cannot tell from a network failure."""
    ctx = _base_context(ssl.PROTOCOL_TLS_SERVER)
    _load_chain(ctx, cert, key)
    _add_trust(ctx, trust, check_crl)
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return ctx


def server_only_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context that asks for no client certificate (the management API authenticates by API key)."""
    ctx = _base_context(ssl.PROTOCOL_TLS_SERVER)
    _load_chain(ctx, cert, key)
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client_context(cert: Path, key: Path, trust: TrustMaterial) -> ssl.SSLContext:
    """A client context presenting this node's certificate and checking the peer's against the anchors."""
    ctx = _base_context(ssl.PROTOCOL_TLS_CLIENT)
    _load_chain(ctx, cert, key)
    _add_trust(ctx, trust)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class ReloadingServerContext:
    """The context a listener is created with; each handshake is moved onto the newest built context."""

    def __init__(
        self, cert: Path, key: Path, trust: TrustMaterial, require_client_cert: bool = False, check_crl: bool = True
    ) -> None:
        self._cert, self._key, self._require, self._crl = cert, key, require_client_cert, check_crl
        self.trust = trust
        self._current = server_context(cert, key, trust, require_client_cert, check_crl)
        self.listener_context = server_context(cert, key, trust, require_client_cert, check_crl)
        self.listener_context.sni_callback = self._on_hello

    def _on_hello(self, sslobj: ssl.SSLObject, server_name: str | None, ctx: ssl.SSLContext) -> None:
        sslobj.context = self._current

    def prepare(self, trust: TrustMaterial) -> ssl.SSLContext:
        """A context on new material (raises ConnectorError when the certificate and key cannot be used)."""
        return server_context(self._cert, self._key, trust, self._require, self._crl)

    def use(self, context: ssl.SSLContext, trust: TrustMaterial) -> None:
        self._current, self.trust = context, trust

    def rebuild(self, trust: TrustMaterial) -> None:
        self.use(self.prepare(trust), trust)


def peer_certificate(transport: object) -> x509.Certificate | None:
    """The verified client certificate of a TLS connection, if the client sent one."""
    get = getattr(transport, "get_extra_info", None)
    if get is None:
        return None
    sslobj = get("ssl_object")
    if sslobj is None:
        return None
    der = sslobj.getpeercert(binary_form=True)
    if not der:
        return None
    return _parsed(der)


@functools.lru_cache(maxsize=1024)
def _parsed(der: bytes) -> x509.Certificate:
    # A peer presents the same certificate on every request of a connection, and on every connection.
    return x509.load_der_x509_certificate(der)


class PeerTls:
    """This node's TLS towards peers: its certificate, the anchors and CRLs it trusts, every listener context and
    the client context, rebuilt together when the files (its own certificate and key included) or the recognised
    trust lists change.

    `extra_cas` gives the CA certificates of the trust lists in force, `extra_crls` the CRL files fetched from
    distribution points (both asked at each rebuild). `public_anchors` are trusted besides for public material
    alone (a federation's pinned root, whose trust list is fetched before it vouches for anything). `generation`
    counts rebuilds, so that holders of a client context (the outgoing session) can tell that theirs is stale."""

    def __init__(
        self,
        cert: Path,
        key: Path,
        ca_paths: tuple[Path, ...],
        crl_paths: tuple[Path, ...],
        extra_cas: Callable[[], list[x509.Certificate]] = list,
        extra_crls: Callable[[], tuple[Path, ...]] = tuple,
        fetched_max_age: float | None = None,
        public_anchors: tuple[Path, ...] = (),
    ) -> None:
        self._cert, self._key = cert, key
        self._ca_paths, self._crl_paths = ca_paths, crl_paths
        self._extra_cas = extra_cas
        self._extra_crls = extra_crls
        self._fetched_max_age = fetched_max_age
        self._public_anchors = public_anchors
        self.material = self._load()
        self._own_stamp = file_stamp((cert, key))
        self.generation = 0
        self._listeners: list[ReloadingServerContext] = []
        self._client: tuple[int, ssl.SSLContext] | None = None
        self._web_client: tuple[int, ssl.SSLContext] | None = None
        self._public: tuple[int, ssl.SSLContext] | None = None

    def _load(self) -> TrustMaterial:
        return TrustMaterial(
            self._ca_paths,
            self._crl_paths,
            extra_cas=tuple(self._extra_cas()),
            fetched=tuple(self._extra_crls()),
            fetched_max_age=self._fetched_max_age,
        ).load()

    @property
    def cas(self) -> list[x509.Certificate]:
        return self.material.cas

    def is_revoked(self, cert: x509.Certificate) -> bool:
        return self.material.is_revoked(cert)

    def revocation_unknown(self, cert: x509.Certificate) -> bool:
        return self.material.revocation_unknown(cert)

    def serving(self) -> x509.Certificate:
        """The certificate new handshakes are served (as the file held it at the last rebuild)."""
        return keys.load_certificate(self._cert)

    def listener_context(self, require_client_cert: bool = False, check_crl: bool = True) -> ssl.SSLContext:
        """A context for a new listener that follows every rebuild."""
        reloading = ReloadingServerContext(self._cert, self._key, self.material, require_client_cert, check_crl)
        self._listeners.append(reloading)
        return reloading.listener_context

    def client_context(self) -> ssl.SSLContext:
        """The context outgoing connections present our certificate with (one per generation)."""
        if self._client is None or self._client[0] != self.generation:
            self._client = (self.generation, client_context(self._cert, self._key, self.material))
        return self._client[1]

    def web_client_context(self) -> ssl.SSLContext:
        """For peers that may serve an ordinary web certificate (client certificates optional): our certificate
        presented, the federations' CAs, trust.ca and the system's trusted, the host name checked. OpenSSL does not
        look at CRLs here (a web authority's would be missing); the caller checks `is_revoked` after the
        handshake, which covers every authority whose CRL the node holds."""
        if self._web_client is None or self._web_client[0] != self.generation:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # the default suites: servers outside the federation
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            _load_chain(ctx, self._cert, self._key)
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
            ctx.load_verify_locations(cadata=self.material.cadata())
            ctx.check_hostname = True
            ctx.verify_mode = ssl.CERT_REQUIRED
            self._web_client = (self.generation, ctx)
        return self._web_client[1]

    def public_context(self) -> ssl.SSLContext:
        """For public material: no client certificate; the federations' CAs and the system's are trusted."""
        if self._public is None or self._public[0] != self.generation:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # the default suites: hosts outside the federation too
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
            ctx.load_verify_locations(cadata=self.material.cadata())
            for anchor in self._public_anchors:
                try:
                    ctx.load_verify_locations(cafile=str(anchor))
                except (OSError, ssl.SSLError) as exc:
                    log.warning("a pinned anchor cannot be used for public material: %s", exc, extra={"file": anchor})
            ctx.check_hostname = True
            ctx.verify_mode = ssl.CERT_REQUIRED
            self._public = (self.generation, ctx)
        return self._public[1]

    def files_changed(self) -> bool:
        return self.material.changed() or file_stamp((self._cert, self._key)) != self._own_stamp

    def rebuild(self) -> None:
        """Load the anchors, CRLs and this node's certificate and key again and move every context onto them
        (handshakes under way finish on the context they began with); raises ConnectorError and keeps the current
        ones when the new material is unusable."""
        fresh = self._load()
        own = file_stamp((self._cert, self._key))
        prepared = [reloading.prepare(fresh) for reloading in self._listeners]  # all, or none if one fails
        for reloading, context in zip(self._listeners, prepared):
            reloading.use(context, fresh)
        self.material = fresh
        self._own_stamp = own
        self.generation += 1
        log.info(
            "TLS material reloaded",
            extra={"cas": len(fresh.cas), "crls": len(fresh.crls), "pending_crls": len(fresh.pending)},
        )

    async def watch(self, interval: float) -> None:
        """Rebuild when the CA, CRL, certificate or key files change on disk (a revocation reaches new handshakes
        at once, a rotated certificate is served to new connections)."""
        while True:
            await asyncio.sleep(interval)
            if not self.files_changed():
                continue
            self.try_rebuild()

    def try_rebuild(self) -> bool:
        """`rebuild`, logging instead of raising (the previous material stays, and is retried at the next check)."""
        try:
            self.rebuild()
            return True
        except ConnectorError as exc:
            log.error(
                "TLS files changed but cannot be used; keeping the previous ones: %s",
                exc.reason,
                extra={"where": exc.where},
            )
            self.material.stamp = ()  # retry at the next check
            return False
