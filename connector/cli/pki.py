"""`connector pki ...`: the development PKI (authorities, participant identities, credentials, trust lists,
revocation)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from connector.cli.base import subcommands
from connector.errors import UsageError

# connector.pki.authority.DEFAULT_PUBLIC_URL (a test keeps them in step), here so that the parser loads no crypto.
DEFAULT_PUBLIC_URL = "https://localhost:8765"
# What `connector pki issue` writes that must not be replaced by mistake.
PRIVATE_KEYS = ("tls.key.pem", "signing.key.pem")
# connector.config's defaults of trust.reload_interval, trust.crl_max_age and trust.status_max_age (kept in step
# by a test).
RELOAD_INTERVAL = 5.0
CRL_MAX_AGE = 60.0
STATUS_MAX_AGE = 60.0


def register(sub: argparse._SubParsersAction) -> None:
    pki = sub.add_parser("pki", help="create authorities, issue identities, revoke them")
    pki_sub = subcommands(pki, "pki_command")

    init = pki_sub.add_parser("init-authority", help="create a trust anchor (root CA, credential key, CRL)")
    init.add_argument("--dir", required=True, type=Path, help="folder to create the authority in")
    init.add_argument("--name", default="Dev Authority", help="display name of the authority (federation)")
    init.add_argument(
        "--issuer-id",
        help="issuer id used in credentials (default: the did:web DID of --public-url, else did:web:<name as slug>)",
    )
    init.add_argument("--valid-days", type=int, default=3650, help="validity of the root certificate")
    init.add_argument(
        "--public-url",
        default=DEFAULT_PUBLIC_URL,
        help="https base URL where 'connector authority serve' publishes status lists, CRL and trust "
        f"list (default {DEFAULT_PUBLIC_URL})",
    )
    init.set_defaults(func=cmd_init_authority)

    request = pki_sub.add_parser(
        "request",
        help="as a participant: make this node's own keys and certificate signing requests (no key leaves --out)",
    )
    request.add_argument("--participant-id", required=True, help="did:web participant id the certificates name")
    request.add_argument(
        "--host",
        action="append",
        default=[],
        required=True,
        help="DNS name or IP address the node is reached at (repeatable)",
    )
    request.add_argument("--out", required=True, type=Path, help="folder for the keys and requests (the identity)")
    request.add_argument("--country", help="ISO 3166-1 alpha-2 country of establishment, e.g. JP")
    request.add_argument("--name", help="organisation name")
    request.add_argument("--force", action="store_true", help="replace the private keys already in --out")
    request.set_defaults(func=cmd_request)

    issue = pki_sub.add_parser(
        "issue",
        help="sign a participant's certificate signing requests (--csr); without --csr, a development shortcut "
        "that also makes the participant's keys",
    )
    issue.add_argument("--authority", required=True, type=Path, help="authority folder")
    issue.add_argument(
        "--csr",
        action="append",
        default=[],
        type=Path,
        help="a certificate signing request made by 'connector pki request' (repeatable: tls and signing)",
    )
    issue.add_argument("--participant-id", help="did:web participant id (with --csr: checked against the requests)")
    issue.add_argument(
        "--host",
        action="append",
        default=[],
        help="without --csr: DNS name or IP address the node is reached at (repeatable)",
    )
    issue.add_argument("--out", required=True, type=Path, help="folder to write the certificates (and keys) to")
    issue.add_argument("--country", help="without --csr: ISO 3166-1 alpha-2 country of establishment, e.g. JP")
    issue.add_argument("--name", help="without --csr: organisation name")
    issue.add_argument("--valid-days", type=int, default=365, help="certificate validity in days")
    issue.add_argument(
        "--force",
        action="store_true",
        help="replace the private keys already in --out (the certificates issued with them stay valid until revoked)",
    )
    issue.set_defaults(func=cmd_issue)

    cred = pki_sub.add_parser("credential", help="issue a verifiable credential (JWT) to a participant")
    cred.add_argument("--authority", required=True, type=Path, help="authority folder")
    cred.add_argument("--participant-id", required=True, help="did:web participant id (the credential subject)")
    cred.add_argument(
        "--type",
        required=True,
        choices=["membership", "organization"],
        dest="kind",
        help="membership (data space, member since) or organization (legal name, country; with --registry, the "
        "registered name, address and identifier)",
    )
    cred.add_argument("--country", help="organization: ISO 3166-1 alpha-2 country of establishment, e.g. JP")
    cred.add_argument("--name", help="organization: legal name")
    _registry_arguments(cred, "organization: ")
    cred.add_argument("--out", required=True, type=Path, help="folder to write <type>.credential.jwt to")
    cred.add_argument("--valid-days", type=int, default=365, help="credential validity in days")
    cred.set_defaults(func=cmd_credential)

    tl = pki_sub.add_parser(
        "trust-list", help="sign the federation's trust list (its accredited services: CA, issuer, TSA)"
    )
    tl.add_argument("--authority", required=True, type=Path, help="authority folder")
    tl.add_argument("--out", required=True, type=Path, help="file to write the signed list to")
    tl.add_argument("--valid-days", type=float, default=30, help="validity of the list in days")
    tl.add_argument(
        "--require-client-certificate",
        action="store_true",
        help="members must present a client certificate, even to nodes that accept peers without one (JSON list only)",
    )
    tl.add_argument(
        "--format",
        choices=["jws", "etsi"],
        help="jws: the signed JSON list; etsi: an ETSI TS 119 612 trusted list (XML, XAdES), with every service's "
        "status history (default: etsi when --out ends in .xml, else jws)",
    )
    tl.set_defaults(func=cmd_trust_list)

    svc = pki_sub.add_parser(
        "service", help="change the status of one of the federation's services (then sign the trust list again)"
    )
    svc.add_argument("--authority", required=True, type=Path, help="authority folder")
    svc.add_argument(
        "--service", required=True, choices=["ca", "issuer", "tsa"], help="the root CA, credential issuer or TSA"
    )
    svc.add_argument("--status", required=True, choices=["granted", "withdrawn"], help="its new status")
    svc.add_argument(
        "--since", help="when the status takes effect (ISO 8601 with a timezone; default now, never before the last)"
    )
    svc.set_defaults(func=cmd_service)

    rec = pki_sub.add_parser(
        "recognise",
        help="sign a statement that this federation accepts another federation's credentials as its own",
    )
    rec.add_argument("--authority", required=True, type=Path, help="authority folder (the recognising federation)")
    rec.add_argument(
        "--trust-list", required=True, type=Path, help="the other federation's trust list (JSON or ETSI form)"
    )
    rec.add_argument(
        "--accept",
        action="append",
        default=[],
        metavar="THEIRS[=OURS]",
        help="a credential type of the other federation, and the type it counts as here (repeatable; default "
        "MembershipCredential and OrganizationCredential, each as itself)",
    )
    rec.add_argument(
        "--purpose", action="append", default=[], help="a purpose the recognition holds for (repeatable; default: any)"
    )
    rec.add_argument(
        "--min-level", choices=["low", "substantial", "high"], help="the least assurance level accepted (eIDAS)"
    )
    rec.add_argument("--transitive", action="store_true", help="also accept what the other federation recognises")
    rec.add_argument("--valid-days", type=float, default=365, help="how long the recognition holds")
    rec.add_argument("--out", required=True, type=Path, help="file to write the signed statement to")
    rec.set_defaults(func=cmd_recognise)

    revoke = pki_sub.add_parser(
        "revoke", help="revoke a participant: its certificates (CRL) and credentials (status list)"
    )
    revoke.add_argument("--authority", required=True, type=Path, help="authority folder")
    who = revoke.add_mutually_exclusive_group(required=True)
    who.add_argument("--participant-id", help="did:web participant id")
    who.add_argument("--credential-id", help="revoke this one credential only")
    who.add_argument(
        "--serial",
        type=_serial,
        help="revoke this one certificate only, by its serial in hex as openssl prints it (e.g. the one a rotation "
        "replaced); the participant's other certificates and credentials stay valid",
    )
    revoke.add_argument(
        "--credentials-only",
        action="store_true",
        help="revoke the participant's credentials only; its certificates stay valid",
    )
    revoke.set_defaults(func=cmd_revoke)

    enrol = pki_sub.add_parser(
        "enrol", help="as a participant: send this node's signing requests to its authority and fetch the certificates"
    )
    enrol.add_argument("--authority-url", required=True, help="the authority's public URL (https)")
    enrol.add_argument(
        "--anchor", required=True, type=Path, help="the authority's root certificate (obtained out of band)"
    )
    enrol.add_argument(
        "--identity", required=True, type=Path, help="the folder 'connector pki request' wrote (keys stay there)"
    )
    enrol.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for the authority's operator to approve"
    )
    enrol.add_argument("--request", help="look up this earlier request instead of sending the requests again")
    enrol.set_defaults(func=cmd_enrol)

    onboard = pki_sub.add_parser(
        "onboard",
        help="as the authority's operator: accept a participant (its enrolment and credential requests are granted "
        "without approval)",
    )
    onboard.add_argument("--authority", required=True, type=Path, help="authority folder")
    onboard.add_argument("--participant-id", required=True, help="did:web participant id")
    onboard.add_argument("--name", help="legal name its organisation credential states")
    onboard.add_argument("--country", help="ISO 3166-1 alpha-2 country of establishment its credential states")
    _registry_arguments(onboard, "its organisation credential, whenever issued: ")
    onboard.add_argument(
        "--key-sha256",
        action="append",
        default=[],
        help="only enrol requests for this key (SHA-256 that 'connector pki request' printed; repeatable)",
    )
    onboard.set_defaults(func=cmd_onboard)

    pending = pki_sub.add_parser("requests", help="list the enrolment and credential requests participants sent")
    pending.add_argument("--authority", required=True, type=Path, help="authority folder")
    pending.add_argument("--all", action="store_true", help="also those already settled")
    pending.set_defaults(func=cmd_requests)

    approve = pki_sub.add_parser("approve", help="grant a waiting request (see 'connector pki requests')")
    approve.add_argument("--authority", required=True, type=Path, help="authority folder")
    approve.add_argument("request_id", metavar="REQUEST", help="the request's id")
    approve.set_defaults(func=cmd_approve)

    reject = pki_sub.add_parser("reject", help="refuse a waiting request")
    reject.add_argument("--authority", required=True, type=Path, help="authority folder")
    reject.add_argument("request_id", metavar="REQUEST", help="the request's id")
    reject.add_argument("--reason", default="", help="told to the participant (no confidential detail)")
    reject.set_defaults(func=cmd_reject)

    crl = pki_sub.add_parser("crl", help="re-sign the CRL (do this before it expires)")
    crl.add_argument("--authority", required=True, type=Path, help="authority folder")
    crl.set_defaults(func=cmd_crl)


def cmd_init_authority(args: argparse.Namespace) -> int:
    from connector.pki.authority import Authority

    authority = Authority.init(args.dir, args.name, args.issuer_id, args.valid_days, public_url=args.public_url)
    print(f"authority '{authority.name}' created in {authority.dir}")
    print(f"  trust anchor: {authority.ca_cert_path} (sha256 {authority.meta['ca_sha256'][:16]}...)")
    print(f"  CRL:          {authority.crl_path}")
    print(f"  issuer id:    {authority.issuer_id}")
    print(f"  public URL:   {authority.public_url} (status lists under {authority.status_prefix})")
    return 0


def _registry_arguments(parser: argparse.ArgumentParser, scope: str) -> None:
    parser.add_argument(
        "--registry",
        choices=["jp-corporate-number", "lei"],
        help=f"{scope}check the organisation against a base registry (the National Tax Agency's corporate "
        "numbers, or GLEIF's LEIs); the credential then states its registered name, address and identifier",
    )
    parser.add_argument(
        "--registry-file",
        type=Path,
        help="with --registry: the publication to check against (the corporate number CSV, Unicode edition; a "
        "GLEIF golden copy CSV extract)",
    )
    parser.add_argument("--registry-id", help="with --registry: the corporate number or LEI")


def _registry(args: argparse.Namespace) -> Any:
    """The registry check the arguments ask for (a RegistryRequest), or None."""
    given = [args.registry, args.registry_file, args.registry_id]
    if all(v is None for v in given):
        return None
    missing = [f for f, v in zip(("--registry", "--registry-file", "--registry-id"), given) if v is None]
    if missing:
        raise UsageError("cli.usage", f"a registry check also needs {', '.join(missing)}", missing[0])
    from connector.pki.credentials import RegistryRequest

    return RegistryRequest(args.registry, args.registry_file, args.registry_id)


def cmd_credential(args: argparse.Namespace) -> int:
    from connector.pki.authority import Authority
    from connector.pki.credentials import issue_participant_credential

    registry = _registry(args)
    authority = Authority(args.authority)
    issued = issue_participant_credential(
        authority, args.participant_id, args.kind, args.country, args.name, args.out, args.valid_days, registry=registry
    )
    print(f"issued {issued.credential_type} {issued.id} to {issued.participant_id} by '{authority.name}'")
    if registry is not None:
        print(f"  checked against {registry.file.name}: {registry.registry} {registry.identifier}")
    print(
        f"  {issued.path}  (until {issued.valid_until:%Y-%m-%d}; status {issued.status.list_url} "
        f"index {issued.status.index})"
    )
    print("  add it to the node's [identity] credentials")
    return 0


def cmd_trust_list(args: argparse.Namespace) -> int:
    from connector.pki.authority import Authority
    from connector.pki.trust_list import issue_trust_list

    authority = Authority(args.authority)
    issued = issue_trust_list(
        authority,
        args.out,
        args.valid_days,
        format=args.format,
        require_client_certificate=args.require_client_certificate,
    )
    form = "ETSI TS 119 612 trusted list" if issued.format == "etsi" else "trust list"
    print(
        f"{form} of '{authority.name}' signed: sequence {issued.sequence}, valid until "
        f"{issued.valid_until:%Y-%m-%d %H:%M:%S}Z"
    )
    print(f"  written to {args.out} (and {issued.paths[0]} for the authority's service)")
    print(f"  nodes pin the anchor {authority.ca_cert_path} in [[trust.lists]]")
    return 0


def cmd_service(args: argparse.Namespace) -> int:
    from datetime import datetime

    from connector.pki.authority import Authority
    from connector.pki.services import change_status
    from connector.trust.services import status_word

    since = None
    if args.since is not None:
        try:
            since = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError("pki.bad_time", f"'{args.since}' is not an ISO 8601 date and time", "--since") from None
    authority = Authority(args.authority)
    record = change_status(authority, args.service, args.status, since)
    latest = record.history.changes[-1]
    print(f"{record.name}: {status_word(latest.status)} from {latest.since.isoformat()}")
    print(f"  history: {record.history.describe()}")
    print("  sign the trust list again (connector pki trust-list --format etsi) for verifiers to see it")
    return 0


def cmd_recognise(args: argparse.Namespace) -> int:
    from connector.pki.authority import Authority
    from connector.pki.recognitions import issue_recognition_statement, parse_accept

    accept = [parse_accept(a) for a in args.accept] or [
        ("MembershipCredential", "MembershipCredential"),
        ("OrganizationCredential", "OrganizationCredential"),
    ]
    authority = Authority(args.authority)
    issued = issue_recognition_statement(
        authority,
        args.trust_list,
        accept,
        args.purpose,
        args.valid_days,
        args.transitive,
        args.min_level,
        args.out,
    )
    what = ", ".join(f"{t} as {o}" if t != o else t for t, o in accept)
    purposes = ", ".join(args.purpose) if args.purpose else "any purpose"
    print(f"'{authority.name}' recognises '{issued.recognised}': {what}; for {purposes}")
    print(f"  statement {issued.id}, until {issued.valid_until:%Y-%m-%d}, written to {issued.path}")
    print("  nodes of the federation apply it from [trust] recognitions; revoke it with")
    print(f"  connector pki revoke --authority {args.authority} --credential-id {issued.id}")
    return 0


def _refuse_replacing_keys(out: Path, force: bool) -> None:
    present = [name for name in PRIVATE_KEYS if (out / name).exists()]
    if present and not force:
        raise UsageError(
            "pki.exists",
            f"{out} already holds a private key ({', '.join(present)}); use --force to replace it "
            "(the certificates issued with the old keys stay valid until revoked)",
            "--out",
        )


def cmd_request(args: argparse.Namespace) -> int:
    from connector.pki.requests import make_requests

    _refuse_replacing_keys(args.out, args.force)
    made = make_requests(args.out, args.participant_id, args.host, args.country, args.name)
    print(f"keys and certificate signing requests of {made.participant_id} written to {args.out}")
    for kind, path in made.requests.items():  # the whole digest: what an authority's operator may pin
        print(f"  {path.name:<18} key sha256 {made.key_sha256[kind]}")
    print(f"  the private keys stay in {args.out}")
    print("  send the requests to the authority: 'connector pki enrol' over the network, or")
    print("  'connector pki issue --csr ...' by its operator; then start the node and request credentials")
    return 0


def cmd_issue(args: argparse.Namespace) -> int:
    from connector.pki.authority import Authority

    if args.csr:
        return _issue_from_requests(args)
    if args.participant_id is None or not args.host:
        raise UsageError(
            "cli.usage", "give --csr (signing requests), or --participant-id and --host", "--participant-id"
        )
    _refuse_replacing_keys(args.out, args.force)
    authority = Authority(args.authority)
    issued = authority.issue_participant(
        args.participant_id, args.host, args.out, args.country, args.name, args.valid_days
    )
    print(f"issued {issued.participant_id} by '{authority.name}' into {issued.out}")
    print(f"  tls.cert.pem / tls.key.pem          (serial {issued.tls_serial:x}, until {issued.not_after:%Y-%m-%d})")
    print(f"  signing.cert.pem / signing.key.pem  (serial {issued.signing_serial:x})")
    print("  ca.cert.pem                         (the authority's root certificate)")
    return 0


def cmd_enrol(args: argparse.Namespace) -> int:
    import asyncio

    from connector.cli.base import Unreachable
    from connector.pki.enrolment import enrol

    if not args.wait >= 0:
        raise UsageError("cli.usage", "--wait is a number of seconds", "--wait")
    result = asyncio.run(enrol(args.authority_url, args.anchor, args.identity, args.wait, args.request))
    if result.status == "ISSUED":
        print(f"enrolled {result.participant_id} (request {result.request_id}): certificates written")
        for path in result.written:
            print(f"  {path}")
        return 0
    if result.status == "REJECTED":
        from connector.cli.base import Refused

        raise Refused("pki.enrol_rejected", f"the authority rejected request {result.request_id}: {result.reason}")
    raise Unreachable(
        "pki.enrol_pending",
        f"request {result.request_id} waits for the authority's operator ('connector pki approve "
        f"{result.request_id}'); ask again with --request {result.request_id} --wait SECONDS",
    )


def cmd_onboard(args: argparse.Namespace) -> int:
    from connector.pki import onboarding
    from connector.pki.authority import Authority

    registry = _registry(args)
    if registry is not None and not registry.file.is_file():
        raise UsageError("cli.missing_file", f"registry publication not found: {registry.file}", "--registry-file")
    entry = onboarding.onboard(
        Authority(args.authority), args.participant_id, args.name, args.country, args.key_sha256, registry
    )
    print(f"onboarded {entry.participant_id}" + (f" ({entry.name}, {entry.country})" if entry.name else ""))
    if entry.registry is not None:
        print(f"  its organisation credential is checked against {entry.registry.file.name} when issued")
    print(
        "  its enrolment "
        + ("for the pinned keys" if entry.key_pins else "(the first one)")
        + " and its credential requests are granted without approval"
    )
    return 0


def cmd_requests(args: argparse.Namespace) -> int:
    from connector.cli.client import table
    from connector.pki import onboarding
    from connector.pki.authority import Authority

    found = onboarding.requests(Authority(args.authority), None if args.all else onboarding.RECEIVED)
    rows = []
    for r in found:
        what = (
            ", ".join(r.get("credential_types", []))
            if r["kind"] == onboarding.CREDENTIALS
            else "keys " + ", ".join(f"{k} {v[:16]}..." for k, v in sorted(r.get("keys", {}).items()))
        )
        rows.append([r["id"], r["kind"], r["participant_id"], r["status"], what])
    if not rows:
        print("no request waits for approval" if not args.all else "no request yet")
        return 0
    print(table(rows, ["REQUEST", "KIND", "PARTICIPANT", "STATUS", "ASKS FOR"]))
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    from connector.pki import onboarding
    from connector.pki.authority import Authority

    entry = onboarding.approve(Authority(args.authority), args.request_id)
    if entry["kind"] == onboarding.CERTIFICATES:
        print(f"certificates of {entry['participant_id']} signed; it fetches them with 'connector pki enrol'")
    else:
        print(
            f"credentials for {entry['participant_id']} approved; 'connector authority serve' issues them and "
            "delivers them to the holder's credential service"
        )
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    from connector.pki import onboarding
    from connector.pki.authority import Authority

    entry = onboarding.reject(Authority(args.authority), args.request_id, args.reason)
    print(f"request {entry['id']} of {entry['participant_id']} rejected")
    return 0


def _issue_from_requests(args: argparse.Namespace) -> int:
    from connector.pki.authority import Authority
    from connector.pki.certificates import read_request

    for flag, value in (("--host", args.host), ("--country", args.country), ("--name", args.name)):
        if value:
            raise UsageError("cli.usage", f"{flag} comes from the signing request with --csr", flag)
    requests = []
    for path in args.csr:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError("cli.missing_file", f"cannot read {path}: {exc.strerror or exc}", "--csr") from None
        requests.append(read_request(data, str(path)))
    if args.participant_id is not None and any(r.participant_id != args.participant_id for r in requests):
        raise UsageError("pki.bad_request", "the requests name another participant id", "--participant-id")
    authority = Authority(args.authority)
    issued = authority.sign_requests(requests, args.valid_days)
    issued.write(args.out)
    print(
        f"signed {len(issued.certificates)} request(s) of {issued.participant_id} by '{authority.name}' into {args.out}"
    )
    for kind, cert in issued.certificates.items():
        print(f"  {kind}.cert.pem  (serial {cert.serial_number:x}, until {cert.not_valid_after_utc:%Y-%m-%d})")
    print("  ca.cert.pem  (the authority's root certificate); no private key was seen")
    return 0


def _when_seen(crl: object, certificates: bool, credentials: bool, crl_url: str | None = None) -> str:
    """How long running nodes take to see a revocation (the README's revocation step waits that long)."""
    if not certificates and not credentials:
        return ""
    lines = ["running nodes refuse it:"]
    if certificates:
        lines.append(
            f"  the certificates within trust.reload_interval (default {RELOAD_INTERVAL:g} s) where nodes read {crl}, "
            + (
                f"and within trust.crl_max_age (default {CRL_MAX_AGE:g} s) where they fetch it from {crl_url} "
                "(the distribution point its certificates name)"
                if crl_url
                else "elsewhere once their copy of it is replaced"
            )
        )
    if credentials:
        lines.append(
            f"  the credentials within trust.status_max_age (default {STATUS_MAX_AGE:g} s) of their verifiers, "
            "once 'connector authority serve' publishes the status list (at once while it runs)"
        )
    return "\n".join(lines)


def _serial(text: str) -> int:
    try:
        return int(text.replace(":", "").removeprefix("0x").removeprefix("0X"), 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a certificate serial in hex") from None


def cmd_revoke(args: argparse.Namespace) -> int:
    from connector.pki.authority import Authority

    authority = Authority(args.authority)
    if args.serial is not None:
        if args.credentials_only:
            raise UsageError("cli.usage", "--credentials-only goes with --participant-id", "--credentials-only")
        participant, fresh = authority.revoke_certificate(args.serial)
        state = "revoked" if fresh else "was already revoked"
        print(f"certificate {args.serial:x} of {participant} {state}; CRL updated: {authority.crl_path}")
        print(_when_seen(authority.crl_path, True, False, authority.crl_url))
        return 0
    if args.credential_id is not None:
        if args.credentials_only:
            raise UsageError("cli.usage", "--credentials-only goes with --participant-id", "--credentials-only")
        fresh = authority.revoke_credential(args.credential_id)
        print(
            f"{args.credential_id} {'revoked' if fresh else 'was already revoked'}; its status bit is set in "
            f"the status lists under {authority.status_prefix}"
        )
        if fresh:
            print(_when_seen(authority.crl_path, certificates=False, credentials=True))
        return 0
    done = authority.revoke_participant(args.participant_id, credentials_only=args.credentials_only)
    if not args.credentials_only:
        if done.serials:
            print(
                f"revoked {len(done.serials)} certificate(s) of {args.participant_id}; CRL updated: "
                f"{authority.crl_path}"
            )
        else:
            print(
                f"the certificates of {args.participant_id} were already revoked; CRL re-signed: {authority.crl_path}"
            )
    if done.credential_ids:
        print(
            f"revoked {len(done.credential_ids)} credential(s); their status bits are set in the status lists "
            f"under {authority.status_prefix}"
        )
    elif args.credentials_only:
        print(f"{args.participant_id} holds no unrevoked credential of this authority")
    seen = _when_seen(authority.crl_path, not args.credentials_only, bool(done.credential_ids), authority.crl_url)
    if seen:
        print(seen)
    return 0


def cmd_crl(args: argparse.Namespace) -> int:
    from connector.pki.authority import Authority

    authority = Authority(args.authority)
    path = authority.write_crl()
    print(f"CRL re-signed: {path} (number {authority.meta['crl_number']})")
    return 0
