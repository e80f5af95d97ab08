"""The running node: configuration, identity, listeners, lifecycle."""
