"""The node's archive: everything it holds, in a documented open format, to take to another installation.

`connector export --all --out F` writes a ZIP file of JSON Lines files (one per kind of record: assets,
policies, offers, negotiations, agreements, transfers, their histories, the data received and its duties,
receipts, the whole evidence log with its subjects, checkpoints, time-stamps and agreement signatures, and the
counterparties), with a manifest that lists each file's SHA-256 and row count, signed with the node's signing
key. `connector import F` restores it into a node's empty store (SQLite or PostgreSQL), after verifying the
manifest's signature and every file's hash, and, before committing, the evidence chain and its signed
checkpoints. The format is described in format.py and docs/archive.md.
"""
