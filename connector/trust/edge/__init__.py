"""The trust package's I/O edge in a running node: fetching, storing, serving and recording.

The pure core (``connector.trust``) decides; this package feeds it documents fetched over the node's HTTPS
session, keeps what must survive a restart in the node's store, and serves the node's own DID document and
credential service. ``connector.trust.node_edge.attach`` wires it into a node. Modules:

- ``repository``: every SQL statement of the trust tables (replay cache, kept trust lists, own credentials,
  verification records);
- ``fetching``: bounded HTTPS fetches with the DID document and status list caches;
- ``trust_lists``: the configured trust lists, their kept copies and refreshes;
- ``holder``: this node as a holder: its DID document, credentials, outgoing tokens, credential service;
- ``authenticator``: the DCP verifier of every DSP request;
- ``routes``: the protocol and management routes.
"""
