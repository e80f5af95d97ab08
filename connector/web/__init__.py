"""HTTP plumbing shared by the listeners and the clients: TLS contexts, middlewares, error bodies, bounded reads,
byte ranges, and connections that only reach the intended participant."""
