"""The `connector` command line."""
