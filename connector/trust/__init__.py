"""Trust: who the peer is (certificates, DIDs, tokens) and what it is (verifiable credentials).

Everything here is pure (no sockets, no event loop, no database); the I/O edge fetches documents and hands the
bytes in. Modules:

- ``did``: did:web syntax and URLs, DID documents (build, strict read, offline key-certificate check);
- ``tokens``: DCP self-issued ID tokens, replay cache, access tokens for the credential service;
- ``scopes``: DCP scopes (``org.eclipse.dspace.dcp.vc.type:<Type>:read``);
- ``credentials``: JWT verifiable credentials (issue, verify against the trust store);
- ``presentations``: JWT verifiable presentations and the DCP query / response messages;
- ``status_list``: Bitstring Status List encoding, status list credentials, cache freshness;
- ``trust_list``: signed federation trust lists, the multi-federation ``TrustStore``, copy selection;
- ``verifier``: the step-by-step verification plan that ends in ``claims.VerifiedClaims`` or a ``Refusal``;
- ``compact``, ``times``, ``vocab``: strict JWT handling, instants, and the specifications' fixed names.
"""
