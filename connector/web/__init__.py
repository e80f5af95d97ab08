"""HTTP plumbing shared by the listeners and the clients: TLS contexts, middlewares, error bodies, bounded reads."""
