"""Trust: who the peer is (certificates, DIDs, tokens) and what it is (verifiable credentials).

Everything here is pure (no sockets, no event loop, no database); the I/O edge fetches documents and hands the
bytes in. Modules:

- ``did``: did:web syntax and URLs, DID documents (build, strict read, which key serves which purpose, offline
  key-certificate check);
- ``tokens``: DCP self-issued ID tokens, replay cache, access tokens for the credential service;
- ``scopes``: DCP scopes (``org.eclipse.dspace.dcp.vc.type:<Type>:read``, and EDC's ``org.eclipse.edc.vc.type``);
- ``credentials``: JWT verifiable credentials of both DCP profiles, ``vc20-bssl/jwt`` and ``vc11-sl2021/jwt``
  (issue, verify against the trust store);
- ``presentations``: JWT verifiable presentations of both profiles and the DCP query / response messages;
- ``status_list``: Bitstring Status List and Status List 2021 encodings, status list credentials, cache freshness;
- ``trust_list``: signed federation trust lists, the multi-federation ``TrustStore``, copy selection;
- ``verifier``: the step-by-step verification plan that ends in ``claims.VerifiedClaims`` or a ``Refusal``;
- ``compact``, ``times``, ``vocab``: strict JWT handling, instants, and the specifications' fixed names.

Signatures of other parties may use EC P-256/P-384, Ed25519 or RSA keys, each verified by the one algorithm its
type allows (`connector.jws`); this node signs ES256. ``spec/`` holds the official DCP 1.0.1 schemas, context
and examples, unchanged.
"""
