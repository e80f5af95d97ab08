"""The development PKI: federation authorities, participant identities, revocation."""
