"""The federation authority's online side: the service that publishes its status lists, CRL and trust list."""
