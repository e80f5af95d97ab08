"""The management API: the organisation's own users and tools drive the node through it."""
