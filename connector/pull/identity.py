"""The TLS identity a node's own consumer pulls data with, as its configuration states it: the node's certificate
and key, the CRL files it names, and the CRLs the node fetched from the authorities' distribution points (those
no older than `trust.crl_max_age` + `trust.crl_grace`), listed when it is called: a running node keeps fetching."""

from __future__ import annotations

from connector.config import Config
from connector.pull.client import Identity
from connector.trust.edge.crls import fetched_crl_files


def pull_identity(config: Config) -> Identity | None:
    """None when the node has no TLS certificate and key (the plain-HTTP test profile)."""
    ident = config.identity
    if ident.tls_cert is None or ident.tls_key is None:
        return None
    return Identity(
        ident.tls_cert,
        ident.tls_key,
        tuple(config.trust.crl),
        fetched_crl_files(config.node.data_dir),
        config.trust.crl_max_age + config.trust.crl_grace,
        web_pki=config.data.client_certificate == "optional",
    )
