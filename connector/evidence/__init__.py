"""Evidence: hash-chained records, signed checkpoints, RFC 3161 time-stamps and agreement signatures.

The core is pure: it builds and checks evidence from values and never touches a socket, a clock or a database,
so an auditor can run the same checks offline on an exported bundle (chain, checkpoint, timestamp, intent,
certpath, signer, bundle, audit). The data plane's proofs belong to it too: the provider's seal of exactly the
bytes it sent (seal) and the running SHA-256 of data in motion that a seal commits to (digest).

The edge (``evidence.edge``) puts it to work in a node: the journal that appends inside the caller's transaction
(journal, over the statements of connector.store.sql.evidence), the negotiation steps' signer (agreement_signer),
exports and checks of the stored log (export, log_check), the time-stamp client and the authority's TSA route
(tsa_client, tsa_service), the management routes (routes), and the node's evidence service (service). The rest of
the node hands it records through the ports in ``recorder``.
"""
