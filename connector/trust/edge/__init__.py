"""The trust package's I/O edge in a running node: fetching, storing, serving and recording.

The pure core (``connector.trust``) decides; this package feeds it documents fetched over the node's HTTPS
session, keeps what must survive a restart in the node's store, and serves the node's own DID document and
credential service; the composition root (``connector.node.wiring``) puts the parts together. Modules:

- ``replay``: the core's replay cache over the node's store (the trust tables' statements are in
  connector.store.sql.trust, their records in connector.records.trust);
- ``fetching``: bounded HTTPS fetches with the DID document and status list caches;
- ``trust_lists``: the configured trust lists, their kept copies and refreshes;
- ``holder``: this node as a holder: its DID document, credentials, outgoing tokens, credential service;
- ``authenticator``: the DCP verifier of every DSP request;
- ``service``: the verification records on their way to the store, and the lifecycle of the parts (start,
  refresh loops, stop);
- ``routes``: the protocol and management routes.
"""
