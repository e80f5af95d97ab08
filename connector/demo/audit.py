"""Checking that the parties of a demo workspace share nothing secret: every private key found in any file of a
party's folder (PEM blocks, whatever the file's name) is identified by its public key, and each key may be held
by one party alone. Nothing private may be in ``public/``."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from connector.demo.workspace import Workspace

_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", re.S)
MAX_FILE = 16 * 1024 * 1024


@dataclass(frozen=True)
class HeldKey:
    party: str
    path: Path
    fingerprint: str  # SHA-256 of the public key (DER SubjectPublicKeyInfo)


def _keys_in(path: Path) -> list[str]:
    try:
        if path.stat().st_size > MAX_FILE:
            return []
        data = path.read_bytes()
    except OSError:
        return []
    found = []
    for match in _BLOCK.finditer(data):
        try:
            key = serialization.load_pem_private_key(match.group(0), password=None)
        except (ValueError, TypeError):
            found.append(hashlib.sha256(match.group(0)).hexdigest())  # unreadable: still counted, by its bytes
            continue
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        found.append(hashlib.sha256(der).hexdigest())
    return found


def held_keys(ws: Workspace) -> list[HeldKey]:
    folders = {a["service"]: ws.path(a["dir"]) for a in ws.data["authorities"]}
    folders |= {o["key"]: ws.path(o["dir"]) for o in ws.data["organisations"]}
    folders["public"] = ws.path("public")
    held: list[HeldKey] = []
    for party, folder in folders.items():
        for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
            if path.is_file():
                held.extend(HeldKey(party, path, fingerprint) for fingerprint in _keys_in(path))
    return held


def crossings(ws: Workspace) -> list[str]:
    """Every private key held by more than one party, or published: empty when each party holds only its own."""
    parties: dict[str, set[str]] = {}
    where: dict[str, list[Path]] = {}
    for key in held_keys(ws):
        parties.setdefault(key.fingerprint, set()).add(key.party)
        where.setdefault(key.fingerprint, []).append(key.path)
    problems = []
    for fingerprint, holders in parties.items():
        if len(holders) > 1 or "public" in holders:
            paths = ", ".join(str(p.relative_to(ws.dir)) for p in where[fingerprint])
            problems.append(f"private key {fingerprint[:16]}... is held by {', '.join(sorted(holders))}: {paths}")
    return problems
