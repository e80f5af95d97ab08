"""Verifying an evidence bundle offline: what it proves, by whom, when, with nothing but the trust lists.

`verify_bundle` re-derives every statement from signatures, hashes and the federation roots of the trust lists
the auditor chose; nothing is believed because the bundle says so. The result is a list of checks, each
``ok`` (proven), ``absent`` (the bundle holds no evidence for it: the verification is not complete) or
``failed`` (the evidence contradicts itself or does not verify), with the failing check's stable code, plus the
facts an auditor wants in one place: who agreed to what, when, and which bytes were delivered under it. Only
what a signature covers (directly, or through the signed checkpoint of the log) is stated as a fact; what the
bundle merely says - its export time, states no disclosed record confirms, credentials held by hash, the rest
of a DID document than the key checked - is listed apart as unverified context, and where the log or a signed
value contradicts it, that is a failure (``bundle.state_altered``, ``bundle.credential_altered``).

A verification holds when no check failed and none is absent (`Report.complete`); `verdict` says so, or,
when the caller accepts partial evidence explicitly, that it was accepted as partial.

Trust, in order: the time-stamp authority's token gives a trusted time for the checkpoint; the checkpoint,
signed by the exporting node, fixes its log up to a head; the inclusion proof places the disclosed records in
that log; those records bind the agreement, both signatures and the seals by hash; the signatures and seals
carry certificate chains to a federation root. Certificates are checked at the time each signature claims
(and that time must not lie after the trusted time of the checkpoint that logged it). Revocation is not
checked here: an auditor holding CRLs can apply them to the certificates the report names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from connector.canonical import canonical_bytes, json_sha256
from connector.errors import ConnectorError
from connector.evidence import intent
from connector.evidence.bundle import Bundle, HeldCredential, parse_bundle
from connector.evidence.certpath import certs_from_x5c
from connector.evidence.chain import PROCESS_PREV, STATE_CHANGED, Record, verify_inclusion
from connector.evidence.checkpoint import Checkpoint, checkpoint_digest, verify_checkpoint
from connector.evidence.rfc3339 import format_utc, parse_utc, require_aware
from connector.evidence.seal import SealClaims, SealExpectation, verify_seal
from connector.jws import read_header, read_payload_unverified
from connector.keys import same_public_key
from connector.trust.trust_list import TrustList, TrustStore, verify_self_anchored

if TYPE_CHECKING:
    from connector.evidence.timestamp import TimeStamp

OK = "ok"
ABSENT = "absent"
FAILED = "failed"
SKEW = timedelta(minutes=5)
# The data plane logs seals with the seal JSON as subject: issued by the provider, verified against the bytes
# received by the consumer (the older names are accepted too).
SEAL_KINDS = ("data.sealed", "data.seal_verified", "seal.sent", "seal.received")
SEAL_VERIFIED_KINDS = ("data.seal_verified", "seal.received")
AGREEMENT_KINDS = ("agreement.signed", "agreement.verified")
# Fulfilment receipts are logged with ``{"receipt": JWS}`` as subject: by the consumer that signed one, and by the
# provider that verified one it was sent (connector.duties).
RECEIPT_KINDS = ("duty.fulfilled", "duty.receipt")


@dataclass(frozen=True)
class Check:
    name: str  # what was checked (e.g. "signature.provider")
    status: str  # ok | absent | failed
    statement: str  # one sentence: what is proven, what is missing, or what failed
    code: str | None = None  # the failure's stable code


@dataclass(frozen=True)
class Party:
    role: str
    did: str
    organisation: str | None = None  # O= of the signing certificate
    root: str | None = None  # the federation root the signing certificate chains to
    signed_at: datetime | None = None
    kid: str | None = None
    certificate_sha256: str | None = None


@dataclass(frozen=True)
class Delivery:
    transfer_id: str
    sha256: str
    size: int
    media_type: str
    sealed_at: datetime
    issuer: str


@dataclass(frozen=True)
class Context:
    """Something the bundle states that no signature covers: shown to the auditor as such, never as a fact."""

    name: str  # where in the bundle (e.g. "exportedAt", "transfers[0].state")
    value: str  # what the bundle states
    note: str  # why it is not verified


@dataclass
class Report:
    agreement_id: str | None = None
    target: str | None = None
    terms: list[str] = field(default_factory=list)
    exported_by: str | None = None
    parties: dict[str, Party] = field(default_factory=dict)
    trusted_time: datetime | None = None  # the earliest time-stamp over the checkpoint
    time_authority: str | None = None
    checkpoint_time: datetime | None = None  # the node's own claim
    deliveries: list[Delivery] = field(default_factory=list)
    duties: list[str] = field(default_factory=list)  # what the verified receipts prove was done, in sentences
    checks: list[Check] = field(default_factory=list)
    context: list[Context] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.status != FAILED for c in self.checks)

    @property
    def complete(self) -> bool:
        return self.ok and all(c.status == OK for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAILED]

    @property
    def absent(self) -> list[Check]:
        return [c for c in self.checks if c.status == ABSENT]

    def passed(self, name: str) -> bool:
        return any(c.name == name and c.status == OK for c in self.checks)

    def add(self, name: str, status: str, statement: str, code: str | None = None) -> None:
        self.checks.append(Check(name, status, statement, code))

    def unverified(self, name: str, value: Any, note: str) -> None:
        self.context.append(Context(name, value if isinstance(value, str) else json.dumps(value), note))

    def fail(self, name: str, error: ConnectorError | str, code: str | None = None) -> None:
        if isinstance(error, ConnectorError):
            self.add(name, FAILED, error.reason + (f" ({error.where})" if error.where else ""), error.code)
        else:
            self.add(name, FAILED, error, code)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "complete": self.complete,
            "agreementId": self.agreement_id,
            "target": self.target,
            "terms": self.terms,
            "exportedBy": self.exported_by,
            "parties": {
                role: {
                    "did": p.did,
                    "organisation": p.organisation,
                    "root": p.root,
                    "signedAt": p.signed_at.isoformat() if p.signed_at else None,
                    "kid": p.kid,
                    "certificateSha256": p.certificate_sha256,
                }
                for role, p in self.parties.items()
            },
            "trustedTime": self.trusted_time.isoformat() if self.trusted_time else None,
            "timeAuthority": self.time_authority,
            "checkpointTime": self.checkpoint_time.isoformat() if self.checkpoint_time else None,
            "deliveries": [
                {
                    "transferId": d.transfer_id,
                    "sha256": d.sha256,
                    "size": d.size,
                    "mediaType": d.media_type,
                    "sealedAt": d.sealed_at.isoformat(),
                    "issuer": d.issuer,
                }
                for d in self.deliveries
            ],
            "duties": list(self.duties),
            "checks": [
                {"name": c.name, "status": c.status, "statement": c.statement, "code": c.code} for c in self.checks
            ],
            "unverifiedContext": [{"name": c.name, "value": c.value, "note": c.note} for c in self.context],
        }


# --- trust lists --------------------------------------------------------------------------------------------


def load_trust_list(text: str, now: datetime, *, any_time: bool = False) -> TrustList:
    """A trust list the auditor chose to trust: verified under the certificate it carries itself (either form).

    With `any_time`, a list outside its validity is still read (signature and all) as at its own start;
    the caller must then hold the evidence's trusted time against `TrustList.valid_at`."""
    return verify_self_anchored(text, now, any_time=any_time)


def chosen_trust_lists(texts: Sequence[tuple[str, str]], now: datetime) -> tuple[list[TrustList], list[str]]:
    """The trust lists an auditor chose, as (name, signed text) pairs, and notes about them.

    A list that has expired (or is not valid yet) is read as it stood, with a note: it vouches only for evidence
    time-stamped within its validity, which `verify_against` holds it to. Any other problem is a ConnectorError
    whose reason names the list."""
    lists: list[TrustList] = []
    notes: list[str] = []
    for name, text in texts:
        try:
            lists.append(load_trust_list(text, now))
            continue
        except ConnectorError as exc:
            if exc.code not in ("trust_list.expired", "trust_list.not_yet_valid"):
                raise ConnectorError(exc.code, f"trust list {name} cannot be used: {exc.reason}") from None
            problem = exc
        try:
            lists.append(load_trust_list(text, now, any_time=True))
        except ConnectorError:
            raise ConnectorError(problem.code, f"trust list {name} cannot be used: {problem.reason}") from None
        notes.append(
            f"note: trust list {name} is not valid now ({problem.reason}); it vouches only for evidence "
            "time-stamped within its validity"
        )
    return lists, notes


def verify_against(
    document: Any, lists: Sequence[TrustList], now: datetime, expected_agreement: str | None = None
) -> Report:
    """`verify_bundle`, where a list used past its validity vouches only for evidence whose trusted time falls
    within it."""
    report = verify_bundle(document, lists, now, expected_agreement=expected_agreement)
    for trust_list in lists:
        if trust_list.valid_at(now):
            continue
        if report.trusted_time is None or not trust_list.valid_at(report.trusted_time):
            report.fail(
                "trust.list_validity",
                f"the trust list of {trust_list.federation_name} is not valid now, "
                "and the evidence has no time-stamp within its validity",
                "trust_list.validity",
            )
    return report


# --- helpers ------------------------------------------------------------------------------------------------


def _organisation(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    if names:
        return str(names[0].value)
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def _party_of(agreement: Mapping[str, Any], name: str) -> str | None:
    value = agreement.get(name, agreement.get(f"odrl:{name}"))
    if isinstance(value, Mapping):
        value = value.get("@id")
    return value if isinstance(value, str) else None


def _terms(agreement: Mapping[str, Any]) -> list[str]:
    out = []
    for kind in ("permission", "prohibition", "obligation"):
        rules = agreement.get(kind) or []
        for rule in rules if isinstance(rules, list) else [rules]:
            if not isinstance(rule, Mapping):
                continue
            action = rule.get("action")
            action = action.get("@id", action) if isinstance(action, Mapping) else action
            constraints = rule.get("constraint") or []
            text = f"{kind} {action}"
            if constraints:
                count = len(constraints) if isinstance(constraints, list) else 1
                text += f" under {count} constraint{'s' if count != 1 else ''}"
            out.append(text)
    return out


def _iat(jws: str) -> datetime | None:
    try:
        iat = read_header(jws).get("iat")
    except ConnectorError:
        return None
    if not isinstance(iat, int) or isinstance(iat, bool):
        return None
    try:
        return datetime.fromtimestamp(iat, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _claimed_checkpoint_time(jws: str) -> datetime | None:
    try:
        payload = json.loads(read_payload_unverified(jws))
        return parse_utc(payload.get("at")) if isinstance(payload, dict) else None
    except (ConnectorError, ValueError, UnicodeDecodeError, RecursionError):
        return None


def _when(moment: datetime | None) -> str:
    return format_utc(moment) if moment is not None else "an unknown time"


# --- the verification ---------------------------------------------------------------------------------------


def verify_bundle(
    document: Any, trust_lists: Sequence[TrustList], now: datetime, expected_agreement: str | None = None
) -> Report:
    """Check everything in a bundle against the trust lists. Bad evidence is reported, never raised; only trust
    lists that cannot be combined (two of one federation) raise ConnectorError."""
    require_aware(now)
    report = Report()
    try:
        bundle = parse_bundle(document)
        canonical_bytes(bundle.raw)  # everything hashed below must have a canonical form
    except ConnectorError as exc:
        report.fail("bundle.format", exc)
        return report
    except ValueError as exc:
        report.fail(
            "bundle.format", f"the bundle holds values canonical JSON cannot express ({exc})", "bundle.malformed"
        )
        return report
    report.agreement_id = bundle.agreement_id
    report.exported_by = bundle.exported_by
    report.target = bundle.agreement.get("target") if isinstance(bundle.agreement.get("target"), str) else None
    report.terms = _terms(bundle.agreement)
    store = TrustStore(tuple(trust_lists))
    if not any(s.kind == "ca" for t in store.lists for s in t.services):
        report.fail("trust.anchors", "the trust lists name no root certificate", "trust.no_anchor")
        return report
    report.add("bundle.format", OK, f"the bundle is well-formed and about agreement {bundle.agreement_id}")
    if expected_agreement is not None and expected_agreement != bundle.agreement_id:
        report.fail(
            "bundle.agreement",
            f"the bundle is about agreement {bundle.agreement_id}, not the expected {expected_agreement}",
            "bundle.agreement_mismatch",
        )

    provider_did = _party_of(bundle.agreement, "assigner")
    consumer_did = _party_of(bundle.agreement, "assignee")
    _check_parties(report, bundle, provider_did, consumer_did)

    checkpoint, trusted, anchors = _check_log_head(report, bundle, store, now)
    records = _check_inclusion(report, bundle, checkpoint)
    _check_records(report, bundle, records)
    limit = trusted or (checkpoint.at_datetime if checkpoint else None)
    signatures = _check_signatures(report, bundle, records, anchors, provider_did, consumer_did, limit)
    _check_credentials(report, bundle, store, signatures)
    _check_did_documents(report, bundle, signatures)
    states = _check_states(report, bundle, records)
    _check_seals(report, bundle, records, anchors, now, provider_did, states)
    _check_receipts(report, bundle, records, anchors, now, provider_did, consumer_did, limit)
    _note_context(report, bundle, signatures, states)
    return report


def _check_parties(report: Report, bundle: Bundle, provider: str | None, consumer: str | None) -> None:
    if provider is None or consumer is None:
        report.fail(
            "agreement.parties",
            "the agreement names no assigner (provider) or assignee (consumer)",
            "bundle.agreement_parties",
        )
        return
    role = bundle.negotiation.get("role")
    own = provider if role == "provider" else consumer
    if bundle.exported_by != own or bundle.log_node != own:
        report.fail(
            "agreement.parties",
            f"the bundle was exported by {bundle.exported_by} from the log of "
            f"{bundle.log_node}, but the {role} of this agreement is {own}",
            "bundle.exporter",
        )
        return
    report.add("agreement.parties", OK, f"provider {provider} and consumer {consumer}; exported by the {role}")


def _check_log_head(
    report: Report, bundle: Bundle, store: TrustStore, now: datetime
) -> tuple[Checkpoint | None, datetime | None, list[x509.Certificate]]:
    """The time-stamps (each counts only if its TSA's service was accredited at its genTime), then the checkpoint
    under the CAs whose services were accredited at the trusted time (the checkpoint existed then, and so did
    every signature it logged). Also the CA anchors the other checks use."""
    digest = checkpoint_digest(bundle.checkpoint) if bundle.checkpoint.isascii() else b"\0" * 32
    tsa_anchors = list(store.tsa_anchors())
    stamps: list[TimeStamp] = []
    if bundle.timestamps:  # the ASN.1 library loads only for a bundle that has time-stamps
        from connector.evidence.timestamp import verify_response
    for index, token in enumerate(bundle.timestamps):
        try:
            stamp = verify_response(token, digest, None, tsa_anchors, now)
        except ConnectorError as exc:
            report.fail(f"log.timestamp[{index}]", exc)
            continue
        problem = store.timestamp_problem(stamp.tsa_cert, stamp.gen_time)
        if problem is not None:
            report.fail(f"log.timestamp[{index}]", problem, "timestamp.tsa_not_accredited")
            continue
        stamps.append(stamp)
    trusted = min((s.gen_time for s in stamps), default=None)
    anchors = list(store.ca_anchors_at(trusted or now))
    if stamps:
        first = min(stamps, key=lambda s: s.gen_time)
        report.trusted_time, report.time_authority = first.gen_time, first.tsa_name
        report.add(
            "log.timestamp",
            OK,
            f"the time-stamp authority '{first.tsa_name}' attests that the checkpoint "
            f"existed at {_when(first.gen_time)}",
        )
    elif not bundle.timestamps:
        report.add("log.timestamp", ABSENT, "the checkpoint is not time-stamped: its time is only the node's claim")
    at = trusted or _claimed_checkpoint_time(bundle.checkpoint) or now
    if at > now + SKEW:
        at = now
    try:
        checkpoint = verify_checkpoint(bundle.checkpoint, anchors, at, expected_node=bundle.log_node)
    except ConnectorError as exc:
        report.fail("log.checkpoint", exc)
        return None, trusted, anchors
    if checkpoint.at_datetime > now + SKEW:
        report.fail("log.checkpoint", "the checkpoint is dated in the future", "checkpoint.future")
        return None, trusted, anchors
    report.checkpoint_time = checkpoint.at_datetime
    report.add(
        "log.checkpoint",
        OK,
        f"{checkpoint.node} signed a checkpoint of its log: {checkpoint.count} records, "
        f"head {checkpoint.head[:16]}..., at {checkpoint.at} (certificate of "
        f"'{_organisation(checkpoint.signer_cert)}')",
    )
    return checkpoint, trusted, anchors


def _check_inclusion(report: Report, bundle: Bundle, checkpoint: Checkpoint | None) -> tuple[Record, ...]:
    if checkpoint is None:
        report.fail("log.inclusion", "no verified checkpoint to prove the records against", "inclusion.no_checkpoint")
        return ()
    try:
        records = verify_inclusion(bundle.proof, checkpoint.chain_head)
    except ConnectorError as exc:
        report.fail("log.inclusion", exc)
        return ()
    seqs = ", ".join(str(r.seq) for r in records[:12]) + (", ..." if len(records) > 12 else "")
    report.add(
        "log.inclusion",
        OK,
        f"{len(records)} records about this agreement are in the log, unaltered, at "
        f"seq {seqs}, committed to by the checkpoint",
    )
    return records


def _check_complete(report: Report, bundle: Bundle, records: tuple[Record, ...]) -> None:
    """Every record about a process names the one before it about the same process (journal.PROCESS_PREV):
    a record left out of the bundle, first or in between, breaks that link."""
    chains: dict[str, list[Record]] = {}
    for record in records:
        if record.process_id is not None:
            chains.setdefault(record.process_id, []).append(record)
    wanted = [str(bundle.negotiation["id"])] + [t.id for t in bundle.transfers]
    for process in wanted:
        if process not in chains:
            report.fail("log.complete", f"the bundle discloses no record about process {process}", "bundle.incomplete")
            return
    for process, chain in chains.items():
        previous: str | None = None
        for record in chain:
            if record.data.get(PROCESS_PREV, "") != previous:
                report.fail(
                    "log.complete",
                    f"a record about process {process} before seq {record.seq} was left out of the bundle",
                    "bundle.incomplete",
                )
                return
            previous = record.hash
    report.add(
        "log.complete",
        OK,
        f"the records of the negotiation and of {len(bundle.transfers)} transfer(s) link "
        "up one to the next: none was left out before the last one disclosed",
    )


def _check_records(report: Report, bundle: Bundle, records: tuple[Record, ...]) -> None:
    if not records:
        return
    _check_complete(report, bundle, records)
    processes = {str(bundle.negotiation["id"])} | {t.id for t in bundle.transfers}
    agreement_id = bundle.agreement_id
    foreign = [
        r
        for r in records
        if r.process_id not in processes or (r.kind in AGREEMENT_KINDS and r.data.get("agreement") != agreement_id)
    ]
    if foreign:
        r = foreign[0]
        report.fail(
            "log.records",
            f"record seq {r.seq} ({r.kind}) is about process {r.process_id}, not this "
            "agreement's negotiation or transfers",
            "bundle.foreign_record",
        )
    agreement_sha256 = json_sha256(bundle.agreement)
    binding = [r for r in records if r.kind in AGREEMENT_KINDS and r.subject_sha256 == agreement_sha256]
    if not binding:
        report.fail(
            "log.agreement",
            "no logged record carries the hash of this agreement: the agreement is not the one the log is about",
            "bundle.agreement_not_logged",
        )
    else:
        report.add("log.agreement", OK, f"the log holds the agreement's hash (seq {binding[0].seq}, {binding[0].at})")
    referenced = {r.subject_sha256 for r in records if r.subject_sha256}
    for key, subject in bundle.subjects.items():
        try:
            actual = json_sha256(subject)
        except ValueError:
            actual = ""
        if actual != key:
            report.fail(
                "log.subjects",
                f"subject {key[:16]}... does not hash to its key: it was altered",
                "bundle.subject_altered",
            )
            return
        if key not in referenced:
            report.fail(
                "log.subjects",
                f"subject {key[:16]}... is not referenced by any disclosed record",
                "bundle.subject_unlogged",
            )
            return
    if bundle.subjects:
        report.add(
            "log.subjects",
            OK,
            f"{len(bundle.subjects)} logged messages and documents are included, each "
            "matching the hash its record holds",
        )


@dataclass(frozen=True)
class _Verified:
    role: str
    facts: intent.SignatureFacts
    cert: x509.Certificate


def _check_signatures(
    report: Report,
    bundle: Bundle,
    records: tuple[Record, ...],
    anchors: list[x509.Certificate],
    provider: str | None,
    consumer: str | None,
    limit: datetime | None,
) -> dict[str, _Verified]:
    verified: dict[str, _Verified] = {}
    logged = {r.data.get("signature_sha256") for r in records if r.kind in AGREEMENT_KINDS}
    provider_jws = bundle.signatures["provider"].jws
    for role, did in (("provider", provider), ("consumer", consumer)):
        held = bundle.signatures[role]
        name = f"signature.{role}"
        if held.jws is None or held.status == "unsigned":
            report.add(name, ABSENT, f"the {role} did not sign the agreement (recorded as {held.status})")
            continue
        if did is None:
            continue
        if held.status == "invalid":
            report.add(
                name, ABSENT, f"the {role} sent a signature that did not verify when it arrived; it proves nothing"
            )
            continue
        at = _iat(held.jws) or datetime.now(UTC)
        try:
            facts = intent.verify_agreement_signature(
                bundle.agreement,
                held.jws,
                did,
                anchors,
                at,
                provider_signature=provider_jws if role == "consumer" else None,
                expected_role=role,
            )
            cert = certs_from_x5c(read_header(held.jws).get("x5c"))[0]
        except ConnectorError as exc:
            report.fail(name, exc)
            continue
        if records and intent.signature_sha256(held.jws) not in logged:
            report.fail(
                name, f"the {role}'s signature is not in the disclosed log records", "bundle.signature_not_logged"
            )
            continue
        if records and limit is not None and facts.issued_at > limit + SKEW:
            report.fail(
                name,
                f"the {role}'s signature claims {_when(facts.issued_at)}, after the checkpoint that "
                f"logged it ({_when(limit)})",
                "agreement.time",
            )
            continue
        verified[role] = _Verified(role, facts, cert)
        report.parties[role] = Party(
            role, did, _organisation(cert), facts.root, facts.issued_at, facts.kid, facts.signer_cert_sha256
        )
        covers = (
            f", covering {len(facts.credential_sha256)} credential(s) of the other party"
            if facts.credential_sha256
            else ""
        )
        what = (
            "countersigned the agreement and the provider's signature" if role == "consumer" else "signed the agreement"
        )
        report.add(
            name,
            OK,
            f"{did} ('{_organisation(cert)}', certified by '{facts.root}') {what} at {_when(facts.issued_at)}{covers}",
        )
    for role, did in (("provider", provider), ("consumer", consumer)):
        if did is not None and role not in report.parties:
            report.parties[role] = Party(role, did)
    return verified


def _check_credentials(report: Report, bundle: Bundle, store: TrustStore, signatures: Mapping[str, _Verified]) -> None:
    from connector.trust.credentials import verify_credential
    from connector.trust.registries import read_registry_facts

    held = {c.sha256: c for c in bundle.credentials}
    for role, signed in signatures.items():
        other = "consumer" if role == "provider" else "provider"
        for sha in signed.facts.credential_sha256:
            credential = held.get(sha)
            name = f"credential.{sha[:12]}"
            if credential is None or credential.token is None:
                report.add(
                    name,
                    ABSENT,
                    f"the {role} relied on a credential of the {other} (sha256 {sha[:16]}...) "
                    "that the bundle holds only by hash",
                )
                continue
            if _token_sha256(credential.token) != sha:
                report.fail(
                    name,
                    "the credential included does not match the hash the signature covers",
                    "bundle.credential_altered",
                )
                continue
            try:
                checked = verify_credential(
                    credential.token, store, credential.holder, signed.facts.issued_at, require_status=False
                )
            except ConnectorError as exc:
                report.fail(name, exc)
                continue
            said = _misdescribed(credential, checked.id, checked.issuer, checked.types)
            if said is not None:
                report.fail(name, f"the bundle describes the credential {said}", "bundle.credential_altered")
                continue
            types = ", ".join(t for t in checked.types if t != "VerifiableCredential")
            facts = read_registry_facts(checked.subject)
            registry = f"; its issuer checked it against a base registry: {facts.describe()}" if facts else ""
            report.add(
                name,
                OK,
                f"the {role} relied on {types} of {credential.holder} issued by "
                f"{checked.issuer} ({checked.federation}), valid at the signing time{registry}",
            )


def _misdescribed(held: HeldCredential, cid: str, issuer: str, types: tuple[str, ...]) -> str | None:
    """How the bundle's own description of a credential (unsigned) contradicts the credential, or None."""
    if held.issuer is not None and held.issuer != issuer:
        return f"as issued by {held.issuer}, but it was issued by {issuer}"
    if held.id is not None and held.id != cid:
        return f"as {held.id}, but its id is {cid}"
    if held.types and set(held.types) - {"VerifiableCredential"} != set(types) - {"VerifiableCredential"}:
        return f"as {', '.join(held.types)}, but it is {', '.join(types)}"
    return None


def _token_sha256(token: str) -> str:
    from connector.canonical import sha256_hex

    return sha256_hex(token.encode("utf-8", "surrogatepass"))


def _check_did_documents(report: Report, bundle: Bundle, signatures: Mapping[str, _Verified]) -> None:
    from connector.trust.did import ASSERTION_METHOD, parse_did_document

    for role, signed in signatures.items():
        did = signed.facts.signer
        document = bundle.did_documents.get(did)
        name = f"did.{role}"
        if document is None:
            report.add(
                name,
                ABSENT,
                f"the DID document of {did} is not in the bundle; its key id {signed.facts.kid} is not resolved",
            )
            continue
        try:
            key = parse_did_document(document, did).key(signed.facts.kid, ASSERTION_METHOD)
        except ConnectorError as exc:
            report.fail(name, exc)
            continue
        public = signed.cert.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or not same_public_key(key, public):
            report.fail(
                name,
                f"key {signed.facts.kid} in the DID document is not the key of the signing certificate",
                "did.key_mismatch",
            )
            continue
        report.add(
            name, OK, f"key {signed.facts.kid} resolves in the DID document of {did} to the signing certificate's key"
        )


def _check_states(report: Report, bundle: Bundle, records: tuple[Record, ...]) -> dict[str, str]:
    """The state each process reached as its disclosed records say (signed through the checkpoint), held against
    the state the bundle states; returns the proven states by process id. Only when the records of every process
    link up without a gap: otherwise the last one disclosed need not be the last one logged."""
    if not records or not report.passed("log.complete"):
        return {}
    reached: dict[str, tuple[str, int]] = {}
    for record in records:
        to = record.data.get("to")
        if record.kind == STATE_CHANGED and record.process_id is not None and isinstance(to, str):
            reached[record.process_id] = (to, record.seq)
    processes = [("negotiation", str(bundle.negotiation["id"]), bundle.negotiation.get("state"))]
    processes += [("transfer", t.id, t.state) for t in bundle.transfers]
    proven: dict[str, str] = {}
    for kind, pid, stated in processes:
        if pid not in reached:
            continue
        state, seq = reached[pid]
        if stated != state:
            report.fail(
                f"state.{pid}",
                f"the bundle states {kind} {pid} is {stated}, but its last logged state change (seq {seq}) is to "
                f"{state}",
                "bundle.state_altered",
            )
            continue
        proven[pid] = state
        report.add(f"state.{pid}", OK, f"the log records that {kind} {pid} reached {state} (seq {seq})")
    return proven


def _note_context(
    report: Report, bundle: Bundle, signatures: Mapping[str, _Verified], states: Mapping[str, str]
) -> None:
    """What the bundle states that no signature covers, named so that nobody takes it for a proven fact."""
    report.unverified(
        "exportedAt", bundle.exported_at, "the exporting node's own clock; the checkpoint and its time-stamp bound it"
    )
    processes = [("negotiation", str(bundle.negotiation["id"]), bundle.negotiation.get("state"))]
    processes += [(f"transfers[{i}]", t.id, t.state) for i, t in enumerate(bundle.transfers)]
    for where, pid, stated in processes:
        if pid not in states and stated is not None:
            report.unverified(f"{where}.state", stated, "no disclosed record of the log states it")
    for i, transfer in enumerate(bundle.transfers):
        if transfer.format is not None:
            report.unverified(f"transfers[{i}].format", transfer.format, "covered by no signature")
        if transfer.seal is None:
            pids = {"providerPid": transfer.provider_pid, "consumerPid": transfer.consumer_pid}
            report.unverified(f"transfers[{i}].pids", pids, "no seal names them")
    relied = {sha for signed in signatures.values() for sha in signed.facts.credential_sha256}
    for i, credential in enumerate(bundle.credentials):
        if credential.token is not None and credential.sha256 in relied:
            continue  # verified from the credential itself, its description held against it
        described = {"id": credential.id, "types": list(credential.types), "issuer": credential.issuer}
        why = "held by hash only" if credential.token is None else "relied on by no verified signature"
        report.unverified(f"credentials[{i}]", described, f"{why}: its id, types and issuer are the bundle's word")
    checked = {signed.facts.signer: signed.facts.kid for signed in signatures.values()}
    for did in bundle.did_documents:
        kid = checked.get(did)
        if kid is not None and report.passed(f"did.{_role_of(signatures, did)}"):
            note = f"only key {kid} is checked (against the signing certificate); services and other keys are not"
            report.unverified(f"didDocuments[{did}]", "services and keys other than the one checked", note)
        else:
            report.unverified(f"didDocuments[{did}]", "the whole document", "no verified signature resolves in it")


def _role_of(signatures: Mapping[str, _Verified], did: str) -> str:
    return next((role for role, signed in signatures.items() if signed.facts.signer == did), "")


def _check_seals(
    report: Report,
    bundle: Bundle,
    records: tuple[Record, ...],
    anchors: list[x509.Certificate],
    now: datetime,
    provider: str | None,
    states: Mapping[str, str],
) -> None:
    logged = {r.subject_sha256 for r in records if r.kind in SEAL_KINDS}
    dataset = bundle.agreement.get("target")
    for transfer in bundle.transfers:
        name = f"seal.{transfer.id}"
        if transfer.seal is None:
            state = states.get(transfer.id)
            known = f" ({state}, as logged)" if state is not None else ""
            report.add(
                name,
                ABSENT,
                f"transfer {transfer.id}{known} has no seal: which bytes were delivered is not proven",
            )
            continue
        try:
            claims = SealClaims.from_json(transfer.seal.get("claims"))
            expected = SealExpectation(
                str(dataset),
                bundle.agreement_id,
                transfer.provider_pid or "",
                transfer.consumer_pid or "",
                provider or "",
            )
            facts = verify_seal(transfer.seal, claims.sha256, claims.size, expected, anchors, now)
        except ConnectorError as exc:
            report.fail(name, exc)
            continue
        seal_sha256 = json_sha256(dict(transfer.seal))
        if records and seal_sha256 not in logged:
            report.fail(
                name,
                f"the seal of transfer {transfer.id} is not in the disclosed log records",
                "bundle.seal_not_logged",
            )
            continue
        report.deliveries.append(
            Delivery(transfer.id, claims.sha256, claims.size, claims.media_type, claims.issued_at, claims.issuer)
        )
        received = any(r.kind in SEAL_VERIFIED_KINDS and r.subject_sha256 == seal_sha256 for r in records)
        also = "; the consumer's log records that the bytes it received match it" if received else ""
        report.add(
            name,
            OK,
            f"{claims.issuer} sealed {claims.size} bytes ({claims.media_type}) with SHA-256 "
            f"{claims.sha256} under this agreement at {_when(claims.issued_at)} (certified by "
            f"'{facts.anchor_subject}'){also}",
        )


def _check_receipts(
    report: Report,
    bundle: Bundle,
    records: tuple[Record, ...],
    anchors: list[x509.Certificate],
    now: datetime,
    provider: str | None,
    consumer: str | None,
    logged_by: datetime | None,
) -> None:
    """Each fulfilment receipt the log holds, verified (signed by the consumer, about this agreement and the
    data its transfer delivered); then each duty that was due by the checkpoint and has no receipt."""
    from connector.evidence.receipts import verify_receipt

    transfers = {t.id: t for t in bundle.transfers}
    delivered = {d.transfer_id: d for d in report.deliveries}
    done: set[tuple[str, str]] = set()
    for record in records:
        if record.kind not in RECEIPT_KINDS or record.process_id not in transfers:
            continue
        subject = bundle.subjects.get(record.subject_sha256 or "")
        token = subject.get("receipt") if isinstance(subject, Mapping) else None
        name = f"receipt.seq{record.seq}"
        if not isinstance(token, str):
            report.add(name, ABSENT, f"the receipt logged at seq {record.seq} is not in the bundle")
            continue
        try:
            facts = verify_receipt(token, anchors, now)
        except ConnectorError as exc:
            report.fail(name, exc)
            continue
        claims, transfer = facts.claims, transfers[record.process_id]
        wrong = _receipt_mismatch(claims, bundle.agreement_id, provider, consumer, transfer, delivered)
        if wrong is not None:
            report.fail(name, f"the receipt logged at seq {record.seq} {wrong}", "receipt.mismatch")
            continue
        done.add((claims.duty, transfer.id))
        report.duties.append(claims.describe())
        report.add(
            f"receipt.{claims.duty}.{transfer.id}",
            OK,
            claims.describe() + f" (signed by the consumer; logged at seq {record.seq})",
        )
    _check_duties_due(report, bundle, done, logged_by)


def _receipt_mismatch(
    claims: Any,
    agreement_id: str,
    provider: str | None,
    consumer: str | None,
    transfer: Any,
    delivered: Mapping[str, Delivery],
) -> str | None:
    if claims.agreement_id != agreement_id:
        return f"is about agreement {claims.agreement_id}"
    if claims.provider != provider or claims.consumer != consumer:
        return f"names {claims.provider} and {claims.consumer}, not this agreement's parties"
    if (claims.provider_pid, claims.consumer_pid) != (transfer.provider_pid, transfer.consumer_pid):
        return f"is about another transfer than {transfer.id}"
    sealed = delivered.get(transfer.id)
    if sealed is not None and sealed.sha256 != claims.sha256:
        return f"is about data with SHA-256 {claims.sha256}, not the {sealed.sha256} sealed for transfer {transfer.id}"
    return None


def _check_duties_due(report: Report, bundle: Bundle, done: set[tuple[str, str]], logged_by: datetime | None) -> None:
    """A duty whose receipt should be in the log by the checkpoint, but is not: the evidence of it is absent."""
    from connector.policy.engine import parse_policy, usage_duties

    try:
        policy = parse_policy(bundle.agreement)
    except ConnectorError:
        return
    duties = usage_duties(policy)
    if not (duties.inform or duties.delete):
        return
    agreed_at = policy.timestamp
    due = duties.delete_due(agreed_at) if agreed_at is not None else None
    for delivery in report.deliveries:
        transfer = delivery.transfer_id
        if duties.inform and ("inform", transfer) not in done:
            report.add(
                f"receipt.inform.{transfer}",
                ABSENT,
                f"the agreement obliges informing the provider of each use, but the bundle holds no notice of the "
                f"use of transfer {transfer}",
            )
        if due is None or ("delete", transfer) in done:
            continue
        if logged_by is not None and due <= logged_by:
            report.add(
                f"receipt.delete.{transfer}",
                ABSENT,
                f"the data of transfer {transfer} was to be deleted by {_when(due)}, before the checkpoint, but the "
                "bundle holds no receipt of its deletion",
            )
        else:
            report.unverified(
                f"duties.delete.{transfer}", _when(due), "the deletion was not yet due when the log was checkpointed"
            )


# --- the readable report ------------------------------------------------------------------------------------


def render(report: Report, accept_partial: bool = False) -> str:
    lines = [f"Evidence for agreement {report.agreement_id or '(unreadable)'}"]
    unproven = " (not proven)"
    if report.exported_by:
        proven = report.passed("log.checkpoint") and report.passed("agreement.parties")
        lines.append(f"  exported by {report.exported_by}" + ("" if proven else unproven))
    if report.target:
        signed = report.passed("signature.provider") or report.passed("signature.consumer")
        terms = f" - {'; '.join(report.terms)}" if report.terms else ""
        lines.append(f"  what: {report.target}{terms}" + ("" if signed else " (not proven: no verified signature)"))
    for role in ("provider", "consumer"):
        party = report.parties.get(role)
        if party is None:
            continue
        who = f"{party.did}" + (f" ('{party.organisation}')" if party.organisation else "")
        when = f", signed {_when(party.signed_at)}" if party.signed_at else ", signature not proven"
        lines.append(f"  {role}: {who}{when}")
    if report.trusted_time:
        lines.append(f"  existed by: {_when(report.trusted_time)} (time-stamp by '{report.time_authority}')")
    elif report.checkpoint_time:
        lines.append(f"  existed by: {_when(report.checkpoint_time)} (the node's own claim; no time-stamp)")
    for delivery in report.deliveries:
        lines.append(f"  delivered: {delivery.size} bytes, SHA-256 {delivery.sha256} (transfer {delivery.transfer_id})")
    for duty in report.duties:
        lines.append(f"  duty: {duty}")
    lines.append("")
    for title, status, mark in (
        ("PROVEN", OK, "[ok]  "),
        ("NOT PROVEN", ABSENT, "[--]  "),
        ("FAILED", FAILED, "[FAIL]"),
    ):
        chosen = [c for c in report.checks if c.status == status]
        if not chosen:
            continue
        lines.append(title)
        for check in chosen:
            code = f" [{check.code}]" if check.code else ""
            lines.append(f"  {mark} {check.name}: {check.statement}{code}")
    if report.context:
        lines.append("UNVERIFIED CONTEXT (stated by the bundle, covered by no signature: not evidence)")
        for item in report.context:
            lines.append(f"  [??]   {item.name}: {item.value} - {item.note}")
    lines.append("")
    lines.append("RESULT: " + verdict(report, accept_partial)[1])
    return "\n".join(lines)


def verdict(report: Report, accept_partial: bool = False) -> tuple[bool, str]:
    """(holds, the sentence saying so). Complete evidence is the default demand; partial evidence (checks absent,
    none failed) holds only when the caller accepts it explicitly, and the sentence says that it did."""
    if not report.ok:
        first = report.failures[0].code if report.failures else "bundle.empty"
        return False, f"{len(report.failures)} check(s) FAILED; the first: {first}"
    if report.complete:
        return True, "every check holds: the evidence is complete"
    missing = len(report.absent)
    if accept_partial:
        return True, (
            f"PARTIAL evidence accepted (--accept-partial): every check made holds, but {missing} "
            "cannot be made (see NOT PROVEN)"
        )
    return False, (
        f"INCOMPLETE: {missing} check(s) cannot be made, the evidence is absent (see NOT PROVEN); "
        "--accept-partial accepts partial evidence"
    )


def failure_codes(report: Report) -> list[str]:
    return [c.code or "" for c in report.failures]
