"""Sample EU trusted lists for tests, built from the project's own PKI: a list of trusted lists (LOTL) signed by
a "Commission" key, pointing to a member state's list (Germany) signed by a "supervisory body" key, whose
qualified services are a CA (``CA/QC``, once ``accredited`` before eIDAS, ``granted`` since 1 July 2016) and a
qualified time-stamp authority (``TSA/QTST``). Element names, service type and status URIs are those of ETSI TS
119 612 v2 and the EU's lists; the keys, names and locations are made up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from connector import keys
from connector.evidence.timestamp import issue_tsa_certificate
from connector.pki import certificates
from connector.trust.etsi import (
    EU_COMMUNITY_RULES,
    EU_GENERIC,
    EU_LOTL,
    EU_STATUS_DETERMINATION,
    Pointer,
    PostalAddress,
    Provider,
    Scheme,
    build_etsi_list,
    sign_etsi_list,
)
from connector.trust.services import CA_QC, SVCSTATUS, TSA_QTST, ServiceHistory, StatusChange, TrustService

LOTL_LOCATION = "https://lotl.sample.invalid/tools/lotl/eu-lotl.xml"
DE_LOCATION = "https://tl.sample.invalid/de/TL-DE.xml"
ACCREDITED = SVCSTATUS + "accredited"
GRANTED = SVCSTATUS + "granted"
WITHDRAWN = SVCSTATUS + "withdrawn"
EIDAS = datetime(2016, 6, 30, 22, 0, tzinfo=UTC)


@dataclass
class EuLists:
    lotl_key: keys.PrivateKey
    lotl_cert: x509.Certificate  # what a node pins for the LOTL
    de_key: keys.PrivateKey
    de_cert: x509.Certificate  # what the LOTL names as signer of the German list
    qca_key: keys.PrivateKey
    qca_cert: x509.Certificate  # a qualified CA listed by Germany
    qtsa_key: keys.PrivateKey
    qtsa_cert: x509.Certificate  # a qualified TSA listed by Germany
    lotl: str
    de: str

    def write(self, folder: Path) -> dict[str, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = {
            "lotl": folder / "eu-lotl.xml",
            "de": folder / "TL-DE.xml",
            "lotl_anchor": folder / "lotl-signer.pem",
        }
        paths["lotl"].write_text(self.lotl)
        paths["de"].write_text(self.de)
        paths["lotl_anchor"].write_bytes(keys.cert_pem(self.lotl_cert))
        return paths


def build_eu_lists(
    now: datetime | None = None, tsa_withdrawn_at: datetime | None = None, sequence: int = 42
) -> EuLists:
    now = now or datetime.now(UTC)
    lotl_key = keys.generate_key()
    lotl_cert = certificates.make_root_ca(lotl_key, "European Commission Trusted List Signer", 365)
    de_key = keys.generate_key()
    de_cert = certificates.make_root_ca(de_key, "Bundesnetzagentur Trusted List Signer", 365)
    qca_key = keys.generate_key()
    qca_cert = certificates.make_root_ca(qca_key, "Sample Qualified CA", 365)
    qtsa_key, qtsa_cert = issue_tsa_certificate(qca_key, qca_cert, "Sample Qualified Time-Stamping Unit", 365, now=now)
    tsa_history = [StatusChange(GRANTED, now - timedelta(days=30))]
    if tsa_withdrawn_at is not None:
        tsa_history.append(StatusChange(WITHDRAWN, tsa_withdrawn_at))
    provider = Provider(
        "Sample Trust Services GmbH",
        "https://tsp.sample.invalid/repository",
        (
            TrustService(
                CA_QC,
                "Sample Qualified CA",
                "Sample Trust Services GmbH",
                (qca_cert,),
                ServiceHistory.of(
                    [StatusChange(ACCREDITED, datetime(2012, 3, 1, tzinfo=UTC)), StatusChange(GRANTED, EIDAS)]
                ),
            ),
            TrustService(
                TSA_QTST,
                "Sample Qualified Time-Stamping Unit",
                "Sample Trust Services GmbH",
                (qtsa_cert,),
                ServiceHistory.of(tsa_history),
            ),
        ),
        trade_name="VATDE-000000000",
        address=PostalAddress("Musterstrasse 1", "Bonn", "DE", "53113"),
    )
    de_scheme = Scheme(
        operator="Bundesnetzagentur",
        name="DE:Trusted list including information related to the qualified trust service providers",
        information_uri="https://tl.sample.invalid/de/",
        tsl_type=EU_GENERIC,
        status_determination=EU_STATUS_DETERMINATION,
        community_rules=EU_COMMUNITY_RULES,
        territory="DE",
        address=PostalAddress("Tulpenfeld 4", "Bonn", "DE", "53113"),
        distribution_point=DE_LOCATION,
    )
    de = sign_etsi_list(
        build_etsi_list(de_scheme, sequence, now - timedelta(hours=1), now + timedelta(days=180), [provider]),
        de_key,
        de_cert,
    )
    lotl_scheme = Scheme(
        operator="European Commission",
        name="EU:EU List of Trusted Lists",
        information_uri="https://lotl.sample.invalid/",
        tsl_type=EU_LOTL,
        status_determination=EU_STATUS_DETERMINATION,
        community_rules="http://uri.etsi.org/TrstSvc/TrustedList/schemerules/EUlistofthelists",
        territory="EU",
        address=PostalAddress("Rue de la Loi 200", "Brussels", "BE", "1049"),
        distribution_point=LOTL_LOCATION,
        pointers=(
            Pointer(DE_LOCATION, (de_cert,), EU_GENERIC, "DE", "Bundesnetzagentur"),
            Pointer(LOTL_LOCATION, (lotl_cert,), EU_LOTL, "EU", "European Commission"),
        ),
    )
    lotl = sign_etsi_list(
        build_etsi_list(lotl_scheme, 300, now - timedelta(hours=2), now + timedelta(days=180)), lotl_key, lotl_cert
    )
    return EuLists(lotl_key, lotl_cert, de_key, de_cert, qca_key, qca_cert, qtsa_key, qtsa_cert, lotl, de)
