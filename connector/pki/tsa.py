"""The time-stamp authority's identity in an authority folder: its key and certificate, issued by the root.

Kept here, beside the CA, because two parts need it: the authority's service signs time-stamps with it
(`connector.evidence.edge.tsa_service`), and the federation's trust list names its certificate as the
federation's time-stamp service. The certificate is issued on first use (extended key usage timeStamping only,
as RFC 3161 requires) and renewed when it comes close to expiry.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from connector import keys
from connector.evidence.timestamp import issue_tsa_certificate
from connector.keys import PrivateKey
from connector.pki.authority import Authority

log = logging.getLogger("connector.authority.tsa")

TSA_KEY_FILE = "tsa.key.pem"
TSA_CERT_FILE = "tsa.cert.pem"
CERT_DAYS = 5 * 365
RENEW_BEFORE = timedelta(days=30)


def tsa_identity(authority: Authority, now: datetime) -> tuple[PrivateKey, x509.Certificate]:
    """(TSA key, TSA certificate), issuing the certificate when absent, unusable or about to expire."""
    with authority.locked():
        ca_cert = authority.ca_cert()
        key_path, cert_path = authority.dir / TSA_KEY_FILE, authority.dir / TSA_CERT_FILE
        if key_path.exists() and cert_path.exists():
            key, cert = keys.load_private_key(key_path), keys.load_certificate(cert_path)
            public = cert.public_key()
            if (
                isinstance(public, ec.EllipticCurvePublicKey)
                and keys.same_public_key(key, public)
                and cert.issuer == ca_cert.subject
                and cert.not_valid_after_utc - now > RENEW_BEFORE
            ):
                return key, cert
        days = max(1, min(CERT_DAYS, (ca_cert.not_valid_after_utc - now).days))
        key, cert = issue_tsa_certificate(
            authority.ca_key(), ca_cert, f"{authority.name} Time-Stamp Authority", days, now=now
        )
        keys.write_private_key(key_path, key)
        keys.write_public_file(cert_path, keys.cert_pem(cert))
        log.info(
            "TSA certificate issued",
            extra={"authority": authority.name, "not_after": cert.not_valid_after_utc.isoformat()},
        )
        return key, cert
