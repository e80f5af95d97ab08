"""`connector config check --config FILE`: validate a node's configuration without starting the node.

It runs the checks the node runs before it opens anything: the configuration itself, what it defines
(assets, policies, offers, regions: connector.control.seeds), and every file it names, read and parsed as what
it must be (certificates, private keys that match their certificates, CRLs, credentials). Exit status 0 with
a one-line summary, or 2 with the first problem, naming its key.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.cli.base import subcommands
from connector.cli.client import add_config_argument, add_json_argument, emit_json, load
from connector.errors import ConfigError

if TYPE_CHECKING:
    from connector.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    config = sub.add_parser("config", help="check a node's configuration")
    actions = subcommands(config, "config_command")
    check = actions.add_parser(
        "check",
        help="validate a configuration and the files it names, without starting the node",
        description=__doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else None,
    )
    add_config_argument(check)
    add_json_argument(check)
    check.set_defaults(func=cmd_check)


# Files that must parse as one kind of PEM object (other file keys need only be readable).
_CERTIFICATES = frozenset({"identity.tls_cert", "identity.signing_cert", "management.tls_cert"})
_KEYS = {
    "identity.tls_key": "identity.tls_cert",
    "identity.signing_key": "identity.signing_cert",
    "management.tls_key": "management.tls_cert",
}
_BUNDLES = frozenset({"trust.ca", "evidence.tsa_certificates"})
_CRLS = frozenset({"trust.crl"})


def _files(config: Config) -> Iterator[tuple[str, Path]]:
    """(key, path) of every file the configuration names, in the order of the reference."""
    from connector.config import SECTIONS

    for name in SECTIONS:
        section = getattr(config, name)
        yield from _fields_files(section, name)
    for i, entry in enumerate(config.trust.lists):
        yield f"trust.lists[{i}].file", entry.file
        yield f"trust.lists[{i}].anchor", entry.anchor


def _fields_files(section: Any, prefix: str) -> Iterator[tuple[str, Path]]:
    for f in dataclasses.fields(section):
        kind = f.metadata.get("kind")
        value = getattr(section, f.name)
        if kind == "file" and value is not None:
            yield f"{prefix}.{f.name}", value
        elif kind == "files":
            for i, path in enumerate(value):
                yield f"{prefix}.{f.name}[{i}]" if len(value) > 1 else f"{prefix}.{f.name}", path


def _read(key: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("config.missing_file", f"file not found: {path}", key) from None
    except OSError as exc:
        raise ConfigError("config.unreadable", f"{path} cannot be read: {exc.strerror or exc}", key) from None


def check_files(config: Config) -> int:
    """Read every file the configuration names and parse those that hold keys and certificates; returns how
    many were read. A key must belong to its certificate, and the TLS certificate must name the node."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from connector import keys
    from connector.pki.certificates import participant_id_of

    certificates: dict[str, Any] = {}
    private_keys: dict[str, tuple[Path, Any]] = {}
    count = 0
    for key, path in _files(config):
        data = _read(key, path)
        count += 1
        base = key.split("[", 1)[0]
        try:
            if base in _CERTIFICATES:
                certificates[base] = x509.load_pem_x509_certificate(data)
            elif base in _BUNDLES or base.endswith(".anchor"):
                x509.load_pem_x509_certificates(data)
            elif base in _CRLS:
                x509.load_pem_x509_crl(data)
            elif base in _KEYS:
                private_keys[base] = (path, serialization.load_pem_private_key(data, password=None))
            elif base.endswith(".file") or base == "identity.credentials" or base == "management.api_key_file":
                data.decode("utf-8")
        except ValueError as exc:  # also UnicodeDecodeError
            raise ConfigError("config.invalid_file", f"{path} is not what {key} must hold: {exc}", key) from None
        except TypeError as exc:  # an encrypted private key
            raise ConfigError("config.invalid_file", f"{path}: {exc}", key) from None
    for key, (path, private) in private_keys.items():
        cert = certificates.get(_KEYS[key])
        if cert is not None and not keys.same_public_key(cert.public_key(), private):
            raise ConfigError("config.key_mismatch", f"{path} is not the key of {_KEYS[key]}", key)
    tls = certificates.get("identity.tls_cert")
    if tls is not None:
        named = participant_id_of(tls)
        if named != config.node.participant_id:
            raise ConfigError(
                "config.identity_mismatch",
                f"the TLS certificate names {named or 'no participant id'}, but node.participant_id is "
                f"{config.node.participant_id}",
                "identity.tls_cert",
            )
    return count


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"


def cmd_check(args: argparse.Namespace) -> int:
    from connector.control.seeds import definitions

    config = load(args)
    seeds = definitions(config)
    files = check_files(config)
    facts = {
        "file": str(config.source or args.config),
        "participantId": config.node.participant_id,
        "assets": len(seeds.assets),
        "policies": len(seeds.policies),
        "offers": len(seeds.offers),
        "regions": len(seeds.regions),
        "peers": len(config.peers),
        "filesChecked": files,
        "protocol": f"{config.protocol.listen.host}:{config.protocol.listen.port}",
        "management": f"{config.management.listen.host}:{config.management.listen.port}",
    }
    if args.json:
        emit_json({"ok": True, **facts})
        return 0
    print(
        f"{facts['file']}: valid: {config.node.participant_id}; {_plural(len(seeds.assets), 'asset')}, "
        f"{_plural(len(seeds.policies), 'policy', 'policies')}, {_plural(len(seeds.offers), 'offer')}, "
        f"{_plural(len(seeds.regions), 'region')}, {_plural(len(config.peers), 'peer')}; "
        f"{_plural(files, 'file')} read; protocol on {facts['protocol']}, management on {facts['management']}"
    )
    return 0
