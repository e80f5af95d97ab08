"""Trust: who the peer is (certificates, DIDs, tokens) and what it is (verifiable credentials)."""
