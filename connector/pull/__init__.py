"""The pull client of the command line (`connector transfer`, `connector fetch`): one transfer's data fetched over
the consumer's own TLS identity into a resumable, atomic download, published only with the provider's verified
seal.

It sits below the node: the node's data plane writes pushed data through the same atomic downloads (atomic_file,
receiving), and nothing here imports the node, its planes or its listeners. The modules: the client and what it
needs from the node (client), one HTTPS GET read by threads of its own (https_get) over a TLS connection decrypted
in memory (tls_socket), and the download written so that the final name only ever holds verified data
(atomic_file, receiving); and a wait for a negotiation's or transfer's state as long as the caller asked, across the
management API's longest wait (waiting).
"""
