"""Evidence: hash-chained records, signed checkpoints, RFC 3161 time-stamps and agreement signatures.

Everything here is pure: it builds and checks evidence from values and never touches a socket, a clock or a
database, so an auditor can run the same checks offline on an exported bundle.
"""
