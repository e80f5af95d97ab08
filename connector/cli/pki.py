"""`connector pki ...`: the development PKI (authorities, participant identities, revocation)."""

from __future__ import annotations

import argparse
from pathlib import Path

from connector.cli.base import Parser
from connector.pki.authority import Authority


def register(sub: argparse._SubParsersAction) -> None:
    pki = sub.add_parser("pki", help="create authorities, issue identities, revoke them")
    pki_sub = pki.add_subparsers(dest="pki_command", metavar="COMMAND", parser_class=Parser)
    pki_sub.required = True

    init = pki_sub.add_parser("init-authority", help="create a trust anchor (root CA, credential key, CRL)")
    init.add_argument("--dir", required=True, type=Path, help="folder to create the authority in")
    init.add_argument("--name", default="Dev Authority", help="display name of the authority (federation)")
    init.add_argument("--issuer-id", help="issuer id used in credentials (default: did:web:<name as slug>)")
    init.add_argument("--valid-days", type=int, default=3650, help="validity of the root certificate")
    init.set_defaults(func=cmd_init_authority)

    issue = pki_sub.add_parser("issue", help="issue a participant's TLS certificate and signing key")
    issue.add_argument("--authority", required=True, type=Path, help="authority folder")
    issue.add_argument("--participant-id", required=True, help="did:web participant id")
    issue.add_argument("--host", action="append", default=[], required=True,
                       help="DNS name or IP address the node is reached at (repeatable)")
    issue.add_argument("--out", required=True, type=Path, help="folder to write the identity to")
    issue.add_argument("--country", help="ISO 3166-1 alpha-2 country of establishment, e.g. JP")
    issue.add_argument("--name", help="organisation name")
    issue.add_argument("--valid-days", type=int, default=365, help="certificate validity in days")
    issue.set_defaults(func=cmd_issue)

    revoke = pki_sub.add_parser("revoke", help="revoke every certificate of a participant (updates the CRL)")
    revoke.add_argument("--authority", required=True, type=Path, help="authority folder")
    revoke.add_argument("--participant-id", required=True, help="did:web participant id")
    revoke.set_defaults(func=cmd_revoke)

    crl = pki_sub.add_parser("crl", help="re-sign the CRL (do this before it expires)")
    crl.add_argument("--authority", required=True, type=Path, help="authority folder")
    crl.set_defaults(func=cmd_crl)


def cmd_init_authority(args: argparse.Namespace) -> int:
    authority = Authority.init(args.dir, args.name, args.issuer_id, args.valid_days)
    print(f"authority '{authority.name}' created in {authority.dir}")
    print(f"  trust anchor: {authority.ca_cert_path} (sha256 {authority.meta['ca_sha256'][:16]}...)")
    print(f"  CRL:          {authority.crl_path}")
    print(f"  issuer id:    {authority.issuer_id}")
    return 0


def cmd_issue(args: argparse.Namespace) -> int:
    authority = Authority(args.authority)
    issued = authority.issue_participant(args.participant_id, args.host, args.out, args.country, args.name,
                                         args.valid_days)
    print(f"issued {issued.participant_id} by '{authority.name}' into {issued.out}")
    print(f"  tls.cert.pem / tls.key.pem          (serial {issued.tls_serial:x}, until {issued.not_after:%Y-%m-%d})")
    print(f"  signing.cert.pem / signing.key.pem  (serial {issued.signing_serial:x})")
    print("  ca.cert.pem                         (the authority's root certificate)")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    authority = Authority(args.authority)
    serials = authority.revoke(args.participant_id)
    if serials:
        print(f"revoked {len(serials)} certificate(s) of {args.participant_id}; CRL updated: {authority.crl_path}")
    else:
        print(f"{args.participant_id} was already revoked; CRL re-signed: {authority.crl_path}")
    return 0


def cmd_crl(args: argparse.Namespace) -> int:
    authority = Authority(args.authority)
    path = authority.write_crl()
    print(f"CRL re-signed: {path} (number {authority.meta['crl_number']})")
    return 0
