"""The demo: a data space of two federations and three organisations on this machine, and its story."""
