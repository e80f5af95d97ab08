"""The node's own identity, loaded once and checked for consistency before anything listens.

One participant id everywhere: the TLS certificate's URI SAN and the signing certificate's URI SAN must both
equal `node.participant_id`, each key must match its certificate, and both certificates must chain to a
configured authority and be within their validity period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from connector import keys
from connector.config import Config
from connector.errors import ConfigError
from connector.pki.certificates import participant_id_of


@dataclass(frozen=True)
class NodeIdentity:
    participant_id: str
    tls_cert: x509.Certificate
    signing_key: keys.PrivateKey
    signing_cert: x509.Certificate
    ca_cert: x509.Certificate  # the authority that issued our certificates

    @cached_property
    def signing_kid(self) -> str:
        """Our signing key as a DID URL (the fragment is its RFC 7638 thumbprint); computed once, as tokens and
        signatures name it on every request."""
        return f"{self.participant_id}#{keys.jwk_thumbprint(keys.public_jwk(self.signing_key))}"

    @property
    def x5c(self) -> list[str]:
        """Signing certificate chain as JOSE `x5c` (leaf first)."""
        return [keys.cert_der_b64(self.signing_cert), keys.cert_der_b64(self.ca_cert)]


def _check_cert(
    cert: x509.Certificate, participant_id: str, key_name: str, anchors: list[x509.Certificate], now: datetime
) -> x509.Certificate:
    found = participant_id_of(cert)
    if found != participant_id:
        raise ConfigError(
            "identity.mismatch",
            f"the certificate names {found or 'no participant id'}, but node.participant_id is {participant_id}",
            key_name,
        )
    if cert.not_valid_after_utc < now:
        raise ConfigError(
            "identity.expired", f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}", key_name
        )
    if cert.not_valid_before_utc > now:
        raise ConfigError("identity.not_yet_valid", "the certificate is not valid yet", key_name)
    for anchor in anchors:
        if anchor.subject == cert.issuer:
            try:
                cert.verify_directly_issued_by(anchor)
                return anchor
            except (InvalidSignature, ValueError, TypeError) as exc:
                raise ConfigError(
                    "identity.untrusted",
                    f"the certificate does not verify against {anchor.subject.rfc4514_string()}: {exc}",
                    key_name,
                ) from None
    raise ConfigError("identity.untrusted", "the certificate is not issued by any authority in trust.ca", key_name)


def load_identity(config: Config, anchors: list[x509.Certificate]) -> NodeIdentity:
    now = datetime.now(UTC)
    ident = config.identity
    pid = config.node.participant_id
    # Present whenever the node has TLS (the configuration refuses it otherwise).
    assert ident.tls_cert and ident.tls_key and ident.signing_cert and ident.signing_key
    tls_cert = keys.load_certificate(ident.tls_cert)
    tls_key = keys.load_private_key(ident.tls_key)
    if not keys.same_public_key(tls_cert.public_key(), tls_key):  # type: ignore[arg-type]
        raise ConfigError(
            "identity.key_mismatch", "the TLS key does not belong to the TLS certificate", "identity.tls_key"
        )
    signing_cert = keys.load_certificate(ident.signing_cert)
    signing_key = keys.load_private_key(ident.signing_key)
    if not keys.same_public_key(signing_cert.public_key(), signing_key):  # type: ignore[arg-type]
        raise ConfigError(
            "identity.key_mismatch",
            "the signing key does not belong to the signing certificate",
            "identity.signing_key",
        )
    ca = _check_cert(tls_cert, pid, "identity.tls_cert", anchors, now)
    _check_cert(signing_cert, pid, "identity.signing_cert", anchors, now)
    return NodeIdentity(pid, tls_cert, signing_key, signing_cert, ca)
