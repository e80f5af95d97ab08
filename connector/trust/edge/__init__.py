"""The trust package's I/O edge in a running node: fetching, storing, serving and recording.

The pure core (``connector.trust``) decides; this package feeds it documents fetched over the node's HTTPS
session, keeps what must survive a restart in the node's store, and serves the node's own DID document and
credential service; the composition root (``connector.node.wiring``) puts the parts together. Modules:

- ``repository``: every SQL statement of the trust tables (replay cache, kept trust lists, own credentials,
  verification records);
- ``fetching``: bounded HTTPS fetches with the DID document and status list caches;
- ``trust_lists``: the configured trust lists, their kept copies and refreshes;
- ``holder``: this node as a holder: its DID document, credentials, outgoing tokens, credential service;
- ``authenticator``: the DCP verifier of every DSP request;
- ``service``: the verification records and the lifecycle of the parts (start, refresh loops, stop);
- ``routes``: the protocol and management routes.
"""
