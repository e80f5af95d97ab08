"""A federation's trust anchor on disk: its root CA, credential key, CRL and the ledger of what it issued.

Layout of an authority folder::

    authority.json        name, issuer id, federation id, public URL, fingerprints, counters (no secrets)
    ca.key.pem            root CA private key (0600)
    ca.cert.pem           root CA certificate: the trust anchor peers configure
    credential.key.pem    separate key that signs verifiable credentials and status lists (0600)
    crl.pem               certificate revocation list, re-signed on every revocation (and before it expires)
    issued.json           ledger of issued certificates and their revocation state
    credentials.json      ledger of issued credentials: type, holder, status list index, revocation state
    onboarding.json       participants the operator onboarded, and the requests participants sent (see
                          `connector.pki.onboarding`): never a participant's private key
    trust-list.jws        the latest signed trust list of the federation
    service.*.pem         TLS identity of the authority's service (created by `connector authority serve`)

Every change takes an exclusive lock on the folder, so two commands run at once cannot lose a revocation.

The public URL is where the authority's service publishes status lists (``<url>/status/<n>``), the CRL
(``<url>/crl.pem``, named by every certificate it signs as CRL Distribution Point) and the trust list. It must
be https: verifiers accept status lists only from plain https URLs that the trust list names, so a revocation
cannot be served by whoever sits on the path.

The issuer id is a did:web DID derived from the public URL (``https://host:8765/alpha`` ->
``did:web:host%3A8765:alpha``), so that the authority's service can publish the DID document its credentials'
and status lists' ``kid`` resolves in (`Authority.did_document`, at `Authority.did_document_route`). An
authority made without a public URL, or whose URL names an IP address (which did:web cannot), keeps the
name-derived ``did:web:<slug>``; ``--issuer-id`` overrides both. Trust lists carry the credential key
themselves, so verifiers of this project work offline whichever it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from connector import keys
from connector.errors import ConnectorError
from connector.pki import certificates

AUTHORITY_FILE = "authority.json"
LEDGER_FILE = "issued.json"
CREDENTIALS_FILE = "credentials.json"
TRUST_LIST_FILE = "trust-list.jws"
SERVICE_CERT_FILE = "service.cert.pem"
SERVICE_KEY_FILE = "service.key.pem"
DEFAULT_PUBLIC_URL = "https://localhost:8765"
STATUS_PATH = "/status/"
CRL_PATH = "/crl.pem"


def slug(text: str) -> str:
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return value or "authority"


def _write_json(path: Path, data: Any) -> None:
    keys.write_public_file(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def _now() -> datetime:
    return datetime.now(UTC)


def did_from_public_url(url: str) -> str | None:
    """The did:web DID whose document lives at the public URL (``/.well-known/did.json`` for a URL without a path,
    ``<path>/did.json`` below one), or None when the URL cannot be a did:web location (an IP address, ...)."""
    from connector.trust.did import url_to_did

    base = url.rstrip("/")
    path = urlsplit(base).path
    try:
        return url_to_did(base + ("/did.json" if path else "/.well-known/did.json"))
    except ConnectorError:
        return None


def check_public_url(url: str) -> str:
    """The authority's public base URL, normalised (no trailing slash); status lists live below it."""
    from connector.trust.trust_list import plain_https_url

    base = url.rstrip("/") if isinstance(url, str) else ""
    if not plain_https_url(base + STATUS_PATH + "1"):
        raise ConnectorError(
            "pki.bad_public_url",
            f"'{url}' is not usable as the authority's public URL: it must "
            "be https without query, fragment, user or encoded characters (verifiers accept "
            "status lists only from plain https URLs)",
            "--public-url",
        )
    return base


@dataclass(frozen=True)
class IssuedCertificates:
    """Certificates signed from a participant's requests, by kind ("tls", "signing"), and the root they chain to."""

    participant_id: str
    certificates: dict[str, x509.Certificate]
    ca: x509.Certificate

    def pems(self) -> dict[str, str]:
        """Certificates as PEM, keyed like their files: ``tls.cert.pem``, ``signing.cert.pem``, ``ca.cert.pem``."""
        out = {f"{kind}.cert.pem": keys.cert_pem(cert).decode("ascii") for kind, cert in self.certificates.items()}
        out["ca.cert.pem"] = keys.cert_pem(self.ca).decode("ascii")
        return out

    def write(self, out: Path) -> list[Path]:
        """Write the certificates (public files) into `out`."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, pem in self.pems().items():
            keys.write_public_file(out / name, pem.encode("ascii"))
            written.append(out / name)
        return written


@dataclass(frozen=True)
class IssuedParticipant:
    participant_id: str
    out: Path
    tls_serial: int
    signing_serial: int
    not_after: datetime


class Authority:
    """An opened authority folder."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        meta_path = self.dir / AUTHORITY_FILE
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise ConnectorError(
                "pki.no_authority",
                f"no authority in {self.dir} (run 'connector pki init-authority' first)",
                "--authority",
            ) from None
        except ValueError:
            raise ConnectorError("pki.corrupt", f"{meta_path} is not valid JSON", "--authority") from None

    # --- creation -------------------------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        directory: Path,
        name: str,
        issuer_id: str | None = None,
        valid_days: int = 3650,
        crl_days: int = 30,
        public_url: str | None = None,
        distribution_point: bool = True,
    ) -> Authority:
        """Create the folder. The issuer id is `issuer_id`, else the DID of `public_url` (when given and usable
        as a did:web location), else ``did:web:<name as slug>``. Without `distribution_point` its certificates
        name no CRL distribution point (as those of authorities made before there was one): nodes then need its
        CRL as a file."""
        directory = Path(directory)
        if (directory / AUTHORITY_FILE).exists():
            raise ConnectorError("pki.exists", f"an authority already exists in {directory}", "--dir")
        url_did = did_from_public_url(check_public_url(public_url)) if public_url is not None else None
        public_url = check_public_url(public_url if public_url is not None else DEFAULT_PUBLIC_URL)
        if issuer_id is not None:
            from connector.trust.did import parse_did

            try:
                parse_did(issuer_id)
            except ConnectorError as exc:
                raise ConnectorError("pki.bad_issuer_id", exc.reason, "--issuer-id") from None
        directory.mkdir(parents=True, exist_ok=True)
        with _locked(directory):
            ca_key = keys.generate_key()
            crl_url = public_url + CRL_PATH if distribution_point else None
            ca_cert = certificates.make_root_ca(ca_key, name, valid_days, crl_url=crl_url)
            credential_key = keys.generate_key()
            keys.write_private_key(directory / "ca.key.pem", ca_key)
            keys.write_public_file(directory / "ca.cert.pem", keys.cert_pem(ca_cert))
            keys.write_private_key(directory / "credential.key.pem", credential_key)
            issuer = issuer_id or url_did or f"did:web:{slug(name)}"
            jwk = keys.public_jwk(credential_key)
            meta = {
                "name": name,
                "slug": slug(name),
                "issuer_id": issuer,
                "credential_kid": f"{issuer}#{keys.jwk_thumbprint(jwk)}",
                "credential_jwk": jwk,
                "ca_sha256": keys.cert_sha256(ca_cert),
                "created": _now().isoformat(),
                "crl_number": 0,
                "crl_days": crl_days,
                "public_url": public_url,
                "federation_id": f"urn:dataspace:{slug(name)}",
                "trust_list_sequence": 0,
                "distribution_point": distribution_point,
            }
            _write_json(directory / AUTHORITY_FILE, meta)
            _write_json(directory / LEDGER_FILE, {"certificates": []})
            _write_json(directory / CREDENTIALS_FILE, {"credentials": []})
        authority = cls(directory)
        authority.write_crl()
        return authority

    # --- material -------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def issuer_id(self) -> str:
        return self.meta["issuer_id"]

    @property
    def credential_kid(self) -> str:
        """The credential key as a DID URL of the issuer (what credentials and status lists name as kid)."""
        return self.meta["credential_kid"]

    @property
    def public_url(self) -> str:
        return self.meta.get("public_url", DEFAULT_PUBLIC_URL)

    def did_document(self) -> dict[str, Any]:
        """The issuer's DID document: the credential key (which also signs status lists) under assertionMethod,
        with the id credentials and status lists name as their ``kid``."""
        from connector.trust.did import ASSERTION_METHOD, DidKey, build_issuer_did_document

        did, _, fragment = self.credential_kid.partition("#")
        if did != self.issuer_id:
            raise ConnectorError("pki.corrupt", "the credential key id is not a key of the issuer id", "--authority")
        key = DidKey(fragment, self.credential_key().public_key(), relationships=(ASSERTION_METHOD,))
        return build_issuer_did_document(self.issuer_id, [key])

    @property
    def did_document_route(self) -> str | None:
        """Where below the public URL the DID document is published so that the issuer id resolves to it, or None
        when the issuer id is not the public URL's DID (then it is not published)."""
        if did_from_public_url(self.public_url) != self.issuer_id:
            return None
        return "/did.json" if urlsplit(self.public_url).path.strip("/") else "/.well-known/did.json"

    @property
    def federation_id(self) -> str:
        return self.meta.get("federation_id", f"urn:dataspace:{self.meta.get('slug', slug(self.name))}")

    @property
    def status_prefix(self) -> str:
        """Every status list of this authority lives below this URL (the trust list says so)."""
        return self.public_url + STATUS_PATH

    @property
    def crl_url(self) -> str | None:
        """Where the CRL is published; every certificate this authority signs names it (None for an authority whose
        certificates name no distribution point)."""
        if not self.meta.get("distribution_point", False):
            return None
        return self.public_url + CRL_PATH

    def status_list_url(self, list_id: str) -> str:
        return self.status_prefix + list_id

    @property
    def trust_list_path(self) -> Path:
        return self.dir / TRUST_LIST_FILE

    @property
    def ca_cert_path(self) -> Path:
        return self.dir / "ca.cert.pem"

    @property
    def crl_path(self) -> Path:
        return self.dir / "crl.pem"

    def ca_cert(self) -> x509.Certificate:
        return keys.load_certificate(self.ca_cert_path)

    def ca_key(self) -> keys.PrivateKey:
        return keys.load_private_key(self.dir / "ca.key.pem")

    def credential_key(self) -> keys.PrivateKey:
        return keys.load_private_key(self.dir / "credential.key.pem")

    def ledger(self) -> list[dict[str, Any]]:
        return json.loads((self.dir / LEDGER_FILE).read_text())["certificates"]

    def _save_ledger(self, entries: list[dict[str, Any]]) -> None:
        _write_json(self.dir / LEDGER_FILE, {"certificates": entries})

    def credential_ledger(self) -> list[dict[str, Any]]:
        """Issued credentials (folders made before credentials existed have no ledger yet)."""
        try:
            return json.loads((self.dir / CREDENTIALS_FILE).read_text())["credentials"]
        except FileNotFoundError:
            return []

    def save_credential_ledger(self, entries: list[dict[str, Any]]) -> None:
        """Only under `locked()`."""
        _write_json(self.dir / CREDENTIALS_FILE, {"credentials": entries})

    def save_meta(self) -> None:
        """Only under `locked()`."""
        _write_json(self.dir / AUTHORITY_FILE, self.meta)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with _locked(self.dir):
            # Re-read: another process may have changed the folder while we waited.
            self.meta = json.loads((self.dir / AUTHORITY_FILE).read_text())
            yield

    # --- issuing --------------------------------------------------------------------------------------------

    def issue_participant(
        self,
        participant_id: str,
        hosts: list[str],
        out: Path,
        country: str | None = None,
        organisation: str | None = None,
        valid_days: int = 365,
    ) -> IssuedParticipant:
        from connector.participant import check_participant_id

        check_participant_id(participant_id, where="--participant-id")
        if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
            raise ConnectorError(
                "pki.bad_country",
                f"'{country}' is not an ISO 3166-1 alpha-2 country code (two capital letters, e.g. JP, DE)",
                "--country",
            )
        if valid_days < 1:
            raise ConnectorError("pki.bad_validity", "validity must be at least one day", "--valid-days")
        if not hosts:
            raise ConnectorError("pki.no_host", "at least one --host is needed", "--host")
        out = Path(out)
        with self.locked():
            ca_key, ca_cert = self.ca_key(), self.ca_cert()
            tls_key, signing_key = keys.generate_key(), keys.generate_key()
            tls_cert = certificates.make_tls_certificate(
                ca_key,
                ca_cert,
                tls_key.public_key(),
                participant_id,
                hosts,
                organisation,
                country,
                valid_days,
                crl_url=self.crl_url,
            )
            signing_cert = certificates.make_signing_certificate(
                ca_key,
                ca_cert,
                signing_key.public_key(),
                participant_id,
                organisation,
                country,
                valid_days,
                crl_url=self.crl_url,
            )
            # Recorded first: a certificate handed out must be in the ledger, to be revoked (one recorded whose
            # files could not be written harms nobody).
            self._record(participant_id, (("tls", tls_cert), ("signing", signing_cert)))
            out.mkdir(parents=True, exist_ok=True)
            keys.write_private_key(out / "tls.key.pem", tls_key)
            keys.write_public_file(out / "tls.cert.pem", keys.cert_pem(tls_cert))
            keys.write_private_key(out / "signing.key.pem", signing_key)
            keys.write_public_file(out / "signing.cert.pem", keys.cert_pem(signing_cert))
            keys.write_public_file(out / "ca.cert.pem", keys.cert_pem(ca_cert))
            info = {
                "participant_id": participant_id,
                "organisation": organisation,
                "country": country,
                "hosts": hosts,
                "authority": self.name,
                "authority_ca_sha256": self.meta["ca_sha256"],
                "tls_serial": str(tls_cert.serial_number),
                "signing_serial": str(signing_cert.serial_number),
                "not_after": tls_cert.not_valid_after_utc.isoformat(),
            }
            _write_json(out / "participant.json", info)
        return IssuedParticipant(
            participant_id, out, tls_cert.serial_number, signing_cert.serial_number, tls_cert.not_valid_after_utc
        )

    def _record(self, participant_id: str, issued: Iterable[tuple[str, x509.Certificate]]) -> None:
        """Only under `locked()`: add certificates to the ledger."""
        ledger = self.ledger()
        for kind, cert in issued:
            ledger.append(
                {
                    "participant_id": participant_id,
                    "kind": kind,
                    "serial": str(cert.serial_number),
                    "not_after": cert.not_valid_after_utc.isoformat(),
                    "issued": _now().isoformat(),
                    "revoked": None,
                }
            )
        self._save_ledger(ledger)

    def is_revoked_participant(self, participant_id: str) -> bool:
        """Whether this authority revoked a certificate of the participant (it gets nothing new automatically)."""
        return any(
            e["participant_id"] == participant_id and e["revoked"] and e.get("kind") != "service" for e in self.ledger()
        )

    def sign_requests(
        self, requests: Iterable[certificates.CertificateRequest], valid_days: int = 365
    ) -> IssuedCertificates:
        """Sign a participant's certificate signing requests (one TLS, one signing, or both), never seeing a
        private key: the requests name the participant id, the hosts and the organisation; the authority decides
        every extension. Both requests must name the same participant."""
        requests = list(requests)
        if not requests:
            raise ConnectorError("pki.bad_request", "no certificate signing request given", "--csr")
        kinds = [r.kind for r in requests]
        if len(set(kinds)) != len(kinds):
            raise ConnectorError("pki.bad_request", "two requests ask for the same kind of certificate", "--csr")
        participants = {r.participant_id for r in requests}
        if len(participants) != 1:
            raise ConnectorError("pki.bad_request", "the requests name different participant ids", "--csr")
        if valid_days < 1:
            raise ConnectorError("pki.bad_validity", "validity must be at least one day", "--valid-days")
        participant_id = participants.pop()
        for request in requests:
            if request.country is not None and not re.fullmatch(r"[A-Z]{2}", request.country):
                raise ConnectorError(
                    "pki.bad_country", f"the request names '{request.country}', not an ISO 3166-1 alpha-2 code", "--csr"
                )
        with self.locked():
            ca_key, ca_cert = self.ca_key(), self.ca_cert()
            issued: list[tuple[str, x509.Certificate]] = []
            for r in requests:
                if r.kind == certificates.TLS:
                    cert = certificates.make_tls_certificate(
                        ca_key,
                        ca_cert,
                        r.public_key,
                        participant_id,
                        list(r.hosts),
                        r.organisation,
                        r.country,
                        valid_days,
                        crl_url=self.crl_url,
                    )
                else:
                    cert = certificates.make_signing_certificate(
                        ca_key,
                        ca_cert,
                        r.public_key,
                        participant_id,
                        r.organisation,
                        r.country,
                        valid_days,
                        crl_url=self.crl_url,
                    )
                issued.append((r.kind, cert))
            self._record(participant_id, issued)
        return IssuedCertificates(participant_id, dict(issued), ca_cert)

    # --- revocation -----------------------------------------------------------------------------------------

    def revoke(self, participant_id: str) -> list[int]:
        """Revoke every certificate and credential issued to a participant; returns the serials newly revoked."""
        return self.revoke_participant(participant_id).serials

    def revoke_participant(self, participant_id: str, credentials_only: bool = False) -> Revocation:
        """Revoke a participant: its certificates (a newer CRL) and its credentials (status bits set).

        With `credentials_only`, the certificates stay valid: the participant keeps its identity but can no
        longer prove what the credentials said. Revoking twice is harmless and revokes nothing new.
        """
        with self.locked():
            ledger = self.ledger()
            mine = [e for e in ledger if e["participant_id"] == participant_id and e.get("kind") != "service"]
            credentials = self.credential_ledger()
            held = [c for c in credentials if c["participant_id"] == participant_id]
            if not mine and not held:
                raise ConnectorError(
                    "pki.unknown_participant",
                    f"this authority never issued a certificate or credential to {participant_id}",
                    "--participant-id",
                )
            stamp = _now().isoformat()
            serials: list[int] = []
            if not credentials_only:
                for entry in mine:
                    if entry["revoked"] is None:
                        entry["revoked"] = stamp
                        serials.append(int(entry["serial"]))
                self._save_ledger(ledger)
                self._write_crl_locked()
            credential_ids: list[str] = []
            for entry in held:
                if entry.get("revoked") is None:
                    entry["revoked"] = stamp
                    credential_ids.append(entry["id"])
            if credential_ids:
                self.save_credential_ledger(credentials)
        return Revocation(participant_id, serials, credential_ids)

    def revoke_certificate(self, serial: int) -> tuple[str, bool]:
        """Revoke one certificate (a newer CRL), e.g. the one a rotation replaced; returns its participant and
        whether it was newly revoked. The participant's other certificates and its credentials stay valid."""
        with self.locked():
            ledger = self.ledger()
            entry = next((e for e in ledger if int(e["serial"]) == serial and e.get("kind") != "service"), None)
            if entry is None:
                raise ConnectorError(
                    "pki.unknown_certificate",
                    f"this authority never issued a certificate with serial {serial:x}",
                    "--serial",
                )
            fresh = entry["revoked"] is None
            if fresh:
                entry["revoked"] = _now().isoformat()
                self._save_ledger(ledger)
            self._write_crl_locked()
        return str(entry["participant_id"]), fresh

    def revoke_credential(self, credential_id: str) -> bool:
        """Revoke one credential (its status bit is set); False if it was already revoked."""
        with self.locked():
            credentials = self.credential_ledger()
            entry = next((c for c in credentials if c["id"] == credential_id), None)
            if entry is None:
                raise ConnectorError(
                    "pki.unknown_credential", f"this authority never issued {credential_id}", "--credential-id"
                )
            if entry.get("revoked") is not None:
                return False
            entry["revoked"] = _now().isoformat()
            self.save_credential_ledger(credentials)
        return True

    # --- the service's own TLS identity ---------------------------------------------------------------------

    def service_identity(self, hosts: list[str], valid_days: int = 90) -> tuple[Path, Path]:
        """(certificate, key) for serving the public URL over TLS; issued by this root, renewed when it expires
        within a week or does not name every host. Recorded in the ledger like any certificate."""
        cert_path, key_path = self.dir / SERVICE_CERT_FILE, self.dir / SERVICE_KEY_FILE
        with self.locked():
            if _service_cert_usable(cert_path, key_path, hosts, self.ca_cert()):
                return cert_path, key_path
            key = keys.generate_key()
            cert = certificates.make_tls_certificate(
                self.ca_key(),
                self.ca_cert(),
                key.public_key(),
                self.issuer_id,
                hosts,
                self.name,
                None,
                valid_days,
                crl_url=self.crl_url,
            )
            keys.write_private_key(key_path, key)
            keys.write_public_file(cert_path, keys.cert_pem(cert))
            ledger = self.ledger()
            ledger.append(
                {
                    "participant_id": self.issuer_id,
                    "kind": "service",
                    "serial": str(cert.serial_number),
                    "not_after": cert.not_valid_after_utc.isoformat(),
                    "issued": _now().isoformat(),
                    "revoked": None,
                }
            )
            self._save_ledger(ledger)
        return cert_path, key_path

    def write_crl(self) -> Path:
        """Re-sign the CRL (also needed before it expires, even without new revocations)."""
        with self.locked():
            return self._write_crl_locked()

    def _write_crl_locked(self) -> Path:
        revoked = [
            (int(e["serial"]), datetime.fromisoformat(e["revoked"])) for e in self.ledger() if e["revoked"] is not None
        ]
        self.meta["crl_number"] = int(self.meta.get("crl_number", 0)) + 1
        crl = certificates.make_crl(
            self.ca_key(), self.ca_cert(), revoked, self.meta["crl_number"], int(self.meta.get("crl_days", 30))
        )
        keys.write_public_file(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))
        _write_json(self.dir / AUTHORITY_FILE, self.meta)
        return self.crl_path


@dataclass(frozen=True)
class Revocation:
    participant_id: str
    serials: list[int]  # certificates newly revoked
    credential_ids: list[str]  # credentials newly revoked


def _service_cert_usable(cert_path: Path, key_path: Path, hosts: list[str], ca: x509.Certificate) -> bool:
    try:
        cert = keys.load_certificate(cert_path)
        key = keys.load_private_key(key_path)
    except ConnectorError:
        return False
    if not keys.same_public_key(cert.public_key(), key) or cert.issuer != ca.subject:  # type: ignore[arg-type]
        return False
    if (cert.not_valid_after_utc - _now()).days < 7:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    named = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    named |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    return set(hosts) <= named


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(Path(directory) / ".lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
