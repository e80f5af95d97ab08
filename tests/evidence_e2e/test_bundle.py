"""A bundle from a real exchange, verified with nothing but itself and the federation's trust list; then every
kind of tampering, each detected and named."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta

from evidence_e2e.kit import DATA, edited, flip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nodekit import cli

from connector import keys
from connector.canonical import b64url, b64url_decode, canonical_bytes
from connector.evidence import intent
from connector.evidence.audit import ABSENT, FAILED, OK, failure_codes, render, verify_bundle
from connector.evidence.certpath import x5c_of
from connector.evidence.signer import SigningIdentity
from connector.pki.authority import Authority


def _undisclosed_between(proof, after: int, before: int) -> int:
    """How many records strictly between seqs `after` and `before` the proof lists only as body digests."""
    disclosed = {r["seq"] for r in proof["records"]}
    return sum(1 for seq in range(after + 1, before) if seq not in disclosed)


def codes(report) -> list[str]:
    return failure_codes(report)


def statuses(report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


# --- what holds ---------------------------------------------------------------------------------------------


def test_the_exchange_signed_both_ways_and_the_live_log_checks_out(exchange):
    consumer_view = exchange.live["signatures"]["consumer"]["signatures"]
    provider_view = exchange.live["signatures"]["provider"]["signatures"]
    assert consumer_view["provider"]["status"] == "verified" and consumer_view["consumer"]["status"] == "signed"
    assert provider_view["provider"]["status"] == "signed" and provider_view["consumer"]["status"] == "verified"
    # the same two signatures on both sides
    assert consumer_view["provider"]["jws"] == provider_view["provider"]["jws"]
    assert consumer_view["consumer"]["jws"] == provider_view["consumer"]["jws"]
    assert exchange.live["checkpoint"].returncode == 0, exchange.live["checkpoint"].stderr
    assert "time-stamped" in exchange.live["checkpoint"].stdout
    assert exchange.live["export"].returncode == 0, exchange.live["export"].stderr
    refused, replaced = exchange.live["export again"], exchange.live["export again--overwrite"]
    assert refused.returncode == 2 and "already exists (use --overwrite" in refused.stderr, refused
    assert replaced.returncode == 0 and "wrote " in replaced.stdout, replaced
    check = exchange.live["check"]
    assert check.returncode == 0 and "the log is intact" in check.stdout, check.stdout + check.stderr
    assert exchange.live["status"]["records"] > 10 and exchange.live["status"]["lastCheckpoint"] is not None
    assert {
        "/v1/evidence",
        "/v1/evidence/checkpoints",
        "/v1/evidence/check",
        "/v1/evidence/agreements/{id}/bundle",
    } <= set(exchange.live["openapi"]["paths"])


def test_each_side_s_bundle_proves_who_agreed_to_what_when_and_which_bytes(exchange, trust_lists, now):
    for side in ("consumer", "provider"):
        report = verify_bundle(exchange.bundle(side), trust_lists, now, expected_agreement=exchange.agreement)
        assert report.ok, (side, [(c.name, c.code, c.statement) for c in report.failures])
        assert report.parties["provider"].did == exchange.provider.participant_id
        assert report.parties["consumer"].did == exchange.consumer.participant_id
        assert report.parties["provider"].signed_at is not None and report.parties["consumer"].signed_at is not None
        assert report.target == "weather" and report.terms == ["permission use"]
        assert report.trusted_time is not None and "Time-Stamp Authority" in (report.time_authority or "")
        assert [d.sha256 for d in report.deliveries] == [hashlib.sha256(DATA).hexdigest()]
        assert report.deliveries[0].size == len(DATA)
        checks = statuses(report)
        for name in (
            "log.timestamp",
            "log.checkpoint",
            "log.inclusion",
            "log.agreement",
            "signature.provider",
            "signature.consumer",
            "did.provider",
            "did.consumer",
            f"seal.{_transfer_id(exchange, side)}",
        ):
            assert checks.get(name) == OK, (side, name, checks)
        # each side holds its own credentials (the peer relied on them) and the peer's, as logged when it verified
        # them, in full: all four verified again offline
        credentials = [c for c in report.checks if c.name.startswith("credential.") and c.status == OK]
        assert len(credentials) == 4, [c.statement for c in report.checks if c.name.startswith("credential.")]
        holders = {c["holder"] for c in exchange.bundle(side)["credentials"] if c["token"]}
        assert holders == {exchange.provider.participant_id, exchange.consumer.participant_id}


def _transfer_id(exchange, side: str) -> str:
    return exchange.bundle(side)["transfers"][0]["id"]


def test_verify_works_on_a_machine_that_never_saw_either_node(exchange, fresh_dir):
    shutil.copy(exchange.bundles["consumer"], fresh_dir / "bundle.json")
    shutil.copy(exchange.trust_list, fresh_dir / "federation.jws")
    ran = cli(
        "evidence",
        "verify",
        "bundle.json",
        "--trust-list",
        "federation.jws",
        "--agreement",
        exchange.agreement,
        cwd=fresh_dir,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "RESULT: every check holds" in ran.stdout
    assert exchange.provider.participant_id in ran.stdout and "delivered: " in ran.stdout
    as_json = cli("evidence", "verify", "bundle.json", "--trust-list", "federation.jws", "--json", cwd=fresh_dir)
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["ok"] is True


def test_verify_exit_status_is_1_for_tampering_and_2_for_usage_errors(exchange, fresh_dir):
    document = exchange.bundle()
    document["log"]["proof"]["records"][0]["kind"] = "state.changed"
    (fresh_dir / "bad.json").write_text(json.dumps(document))
    shutil.copy(exchange.trust_list, fresh_dir / "federation.jws")
    failed = cli("evidence", "verify", "bad.json", "--trust-list", "federation.jws", cwd=fresh_dir)
    assert failed.returncode == 1 and "FAILED" in failed.stdout and "inclusion.altered" in failed.stdout
    missing = cli("evidence", "verify", "nothing.json", "--trust-list", "federation.jws", cwd=fresh_dir)
    assert missing.returncode == 2 and "not found" in missing.stderr
    (fresh_dir / "garbage.jws").write_text("not a trust list")
    unusable = cli("evidence", "verify", "bad.json", "--trust-list", "garbage.jws", cwd=fresh_dir)
    assert unusable.returncode == 2 and "trust list" in unusable.stderr
    no_list = cli("evidence", "verify", "bad.json", cwd=fresh_dir)
    assert no_list.returncode == 2


def test_verification_demands_complete_evidence_unless_partial_evidence_is_accepted(exchange, fresh_dir):
    shutil.copy(exchange.trust_list, fresh_dir / "federation.jws")
    shutil.copy(exchange.bundles["consumer"], fresh_dir / "bundle.json")
    complete = cli("evidence", "verify", "bundle.json", "--trust-list", "federation.jws", cwd=fresh_dir)
    assert complete.returncode == 0 and "the evidence is complete" in complete.stdout, complete.stdout
    document = json.loads((fresh_dir / "bundle.json").read_text())
    peer = next(c for c in document["credentials"] if c["holder"] == exchange.provider.participant_id)
    peer["token"] = None  # as from a node that did not keep the provider's credentials
    (fresh_dir / "by-hash.json").write_text(json.dumps(document))
    for flags in ((), ("--require-complete",)):
        ran = cli("evidence", "verify", "by-hash.json", "--trust-list", "federation.jws", *flags, cwd=fresh_dir)
        assert ran.returncode == 1 and "NOT PROVEN" in ran.stdout and "only by hash" in ran.stdout, ran.stdout
        assert "RESULT: INCOMPLETE" in ran.stdout and "--accept-partial" in ran.stdout
    accepted = cli(
        "evidence", "verify", "by-hash.json", "--trust-list", "federation.jws", "--accept-partial", cwd=fresh_dir
    )
    assert accepted.returncode == 0 and "RESULT: PARTIAL evidence accepted (--accept-partial)" in accepted.stdout
    as_json = cli("evidence", "verify", "by-hash.json", "--trust-list", "federation.jws", "--json", cwd=fresh_dir)
    verdict = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and verdict["holds"] is False and verdict["ok"] is True
    assert verdict["complete"] is False and "INCOMPLETE" in verdict["verdict"]


def _strip_signature(document):
    document["signatures"]["consumer"] = {"status": "unsigned", "jws": None}


def _strip_timestamps(document):
    document["log"]["timestamps"] = []


def _strip_seal(document):
    document["transfers"][0]["seal"] = None


def test_a_bundle_stripped_of_a_signature_a_time_stamp_or_a_seal_fails_by_default(exchange, fresh_dir):
    shutil.copy(exchange.trust_list, fresh_dir / "federation.jws")
    for strip, check in (
        (_strip_signature, "signature.consumer"),
        (_strip_timestamps, "log.timestamp"),
        (_strip_seal, f"seal.{exchange.transfer}"),
    ):
        document = exchange.bundle("provider" if strip is _strip_signature else "consumer")
        strip(document)
        (fresh_dir / "stripped.json").write_text(json.dumps(document))
        ran = cli("evidence", "verify", "stripped.json", "--trust-list", "federation.jws", cwd=fresh_dir)
        assert ran.returncode == 1, (check, ran.stdout)
        assert f"[--]   {check}:" in ran.stdout and "RESULT: INCOMPLETE" in ran.stdout, (check, ran.stdout)


def test_what_no_signature_covers_is_shown_as_unverified_context(exchange, trust_lists, now):
    report = verify_bundle(exchange.bundle(), trust_lists, now)
    assert report.complete, [(c.name, c.status, c.statement) for c in report.checks if c.status != OK]
    context = {c.name: c for c in report.context}
    assert context["exportedAt"].value == exchange.bundle()["exportedAt"]
    assert "transfers[0].format" in context
    dids = [name for name in context if name.startswith("didDocuments[")]
    assert dids and all("services" in context[n].value or "whole" in context[n].value for n in dids)
    # the states the log proves are checks, not context
    assert statuses(report)[f"state.{exchange.transfer}"] == OK
    assert "transfers[0].state" not in context and "negotiation.state" not in context
    text = render(report)
    assert "UNVERIFIED CONTEXT" in text and "exportedAt" in text.split("UNVERIFIED CONTEXT")[1]


def test_unsigned_fields_changed_are_either_caught_or_shown_only_as_unverified(exchange, trust_lists, now):
    original = exchange.bundle()
    document = edited(original)
    document["negotiation"]["state"] = "TERMINATED"
    assert codes(verify_bundle(document, trust_lists, now)) == ["bundle.state_altered"]

    document = edited(original)
    document["transfers"][0]["state"] = "STARTED"
    assert codes(verify_bundle(document, trust_lists, now)) == ["bundle.state_altered"]

    document = edited(original)
    held = next(c for c in document["credentials"] if c["token"])
    held["issuer"] = "did:web:forged.example"
    report = verify_bundle(document, trust_lists, now)
    assert codes(report) == ["bundle.credential_altered"] and "did:web:forged.example" in report.failures[0].statement

    document = edited(original)
    document["exportedAt"] = "1999-01-01T00:00:00Z"
    report = verify_bundle(document, trust_lists, now)
    assert report.complete and {c.name: c.value for c in report.context}["exportedAt"] == "1999-01-01T00:00:00Z"
    assert "1999" not in render(report).split("UNVERIFIED CONTEXT")[0]

    document = edited(original)
    did, did_document = next(iter(document["didDocuments"].items()))
    did_document["service"] = [{"id": "#evil", "type": "CredentialService", "serviceEndpoint": "https://evil.example"}]
    report = verify_bundle(document, trust_lists, now)
    assert report.complete
    assert "services" in {c.name: c.value for c in report.context}[f"didDocuments[{did}]"]
    assert "evil.example" not in render(report)


# --- tampering: each kind detected and named ----------------------------------------------------------------


def test_a_changed_byte_in_a_record_is_detected(exchange, trust_lists, now):
    document = edited(exchange.bundle())
    record = document["log"]["proof"]["records"][2]
    record["at"] = flip(record["at"], len(record["at"]) - 2)
    report = verify_bundle(document, trust_lists, now)
    assert not report.ok and codes(report) == ["inclusion.altered"]
    assert "seq" in report.failures[0].statement


def test_a_removed_record_is_detected(exchange, trust_lists, now):
    document = edited(exchange.bundle())
    del document["log"]["proof"]["records"][3]
    report = verify_bundle(document, trust_lists, now)
    assert codes(report)[0] == "inclusion.length"


def test_a_removed_record_with_its_digest_put_in_its_place_is_detected(exchange, trust_lists, now):
    """Hiding a record by listing only its body digest changes where the digests fall in the run."""
    from connector.evidence.chain import Record

    document = edited(exchange.bundle())
    proof = document["log"]["proof"]
    hidden = Record.from_json(proof["records"].pop(3))
    proof["bodies"].insert(_undisclosed_between(proof, proof["records"][0]["seq"], hidden.seq), hidden.body_sha256)
    report = verify_bundle(document, trust_lists, now)
    assert statuses(report)["log.inclusion"] == OK  # a valid proof of fewer records...
    assert codes(report) == ["bundle.incomplete"]  # ...about a process whose records no longer link up


def test_hiding_the_first_record_of_a_process_is_detected(exchange, trust_lists, now):
    """The proof simply starts one record later (still a valid proof), but the process's first record is gone."""
    document = edited(exchange.bundle())
    proof = document["log"]["proof"]
    first = proof["records"].pop(0)
    assert first["data"]["process_prev"] is None
    # The run now starts at the next disclosed record: the digests of records in between (about other processes,
    # or about no process, such as a credential verification) are no longer part of it.
    del proof["bodies"][: _undisclosed_between(proof, first["seq"], proof["records"][0]["seq"])]
    report = verify_bundle(document, trust_lists, now)
    assert statuses(report)["log.inclusion"] == OK
    assert codes(report)[0] == "bundle.incomplete"  # (and its message, still included, is now unlogged)


def test_reordered_records_are_detected(exchange, trust_lists, now):
    document = edited(exchange.bundle())
    records = document["log"]["proof"]["records"]
    records[1], records[2] = records[2], records[1]
    report = verify_bundle(document, trust_lists, now)
    assert codes(report) == ["inclusion.order"]


def test_a_forged_signature_is_detected(exchange, trust_lists, now):
    document = edited(exchange.bundle())
    jws = document["signatures"]["provider"]["jws"]
    header, _, signature = jws.split(".")
    raw = bytearray(b64url_decode(signature))
    raw[5] ^= 0x01
    document["signatures"]["provider"]["jws"] = f"{header}..{b64url(bytes(raw))}"
    report = verify_bundle(document, trust_lists, now)
    assert "agreement.signature" in codes(report)
    assert {c.name for c in report.failures} >= {"signature.provider"}


def test_a_signature_made_with_a_swapped_certificate_is_detected(exchange, trust_lists, now, tmp_path):
    """A rogue authority certifies a key for the provider's DID and re-signs the agreement with it."""
    rogue = Authority.init(tmp_path / "rogue", "Rogue Federation")
    issued = rogue.issue_participant(exchange.provider.participant_id, ["localhost"], tmp_path / "fake")
    assert issued
    key = keys.load_private_key(tmp_path / "fake" / "signing.key.pem")
    cert = keys.load_certificate(tmp_path / "fake" / "signing.cert.pem")
    signer = SigningIdentity(
        exchange.provider.participant_id,
        f"{exchange.provider.participant_id}#{keys.jwk_thumbprint(keys.public_jwk(key))}",
        key,
        cert,
        (rogue.ca_cert(),),
    )
    document = edited(exchange.bundle())
    document["signatures"]["provider"]["jws"] = intent.sign_agreement(
        document["agreement"], signer, counterparty_credentials=[], now=datetime.now(UTC)
    )
    report = verify_bundle(document, trust_lists, now)
    assert "certpath.untrusted" in codes(report)


def test_a_certificate_swapped_into_a_signature_header_is_detected(exchange, trust_lists, now):
    """The consumer's genuine certificate put in place of the provider's: the signature no longer verifies."""
    document = edited(exchange.bundle())
    provider_jws = document["signatures"]["provider"]["jws"]
    consumer_jws = document["signatures"]["consumer"]["jws"]
    consumer_x5c = json.loads(b64url_decode(consumer_jws.split(".")[0]))["x5c"]
    header = json.loads(b64url_decode(provider_jws.split(".")[0]))
    header["x5c"] = consumer_x5c
    forged_header = b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
    document["signatures"]["provider"]["jws"] = forged_header + ".." + provider_jws.split(".")[2]
    report = verify_bundle(document, trust_lists, now)
    assert codes(report)[0] in ("agreement.signer", "agreement.signature")
    assert not statuses(report)["signature.provider"] == OK


def test_a_bundle_about_another_agreement_is_detected(exchange, trust_lists, now):
    other = exchange.bundle("other")
    assert verify_bundle(other, trust_lists, now).ok  # genuine, but about the other agreement
    report = verify_bundle(other, trust_lists, now, expected_agreement=exchange.agreement)
    assert codes(report) == ["bundle.agreement_mismatch"]


def test_the_agreement_of_another_bundle_put_in_is_detected(exchange, trust_lists, now):
    document = edited(exchange.bundle())
    document["agreement"] = exchange.bundle("other")["agreement"]
    report = verify_bundle(document, trust_lists, now)
    found = codes(report)
    assert "agreement.signature" in found and "bundle.agreement_not_logged" in found


def test_the_log_of_another_bundle_put_in_is_detected(exchange, trust_lists, now):
    document = edited(exchange.bundle())
    document["log"] = exchange.bundle("other")["log"]
    report = verify_bundle(document, trust_lists, now)
    found = codes(report)
    assert "bundle.foreign_record" in found and "bundle.agreement_not_logged" in found


def test_an_altered_logged_message_is_detected(exchange, trust_lists, now):
    document = edited(exchange.bundle())
    key = next(iter(document["subjects"]))
    subject = document["subjects"][key]
    document["subjects"][key] = {**subject, "extra": "inserted"} if isinstance(subject, dict) else "x"
    report = verify_bundle(document, trust_lists, now)
    assert codes(report) == ["bundle.subject_altered"]


def test_an_altered_seal_is_detected(exchange, trust_lists, now):
    document = edited(exchange.bundle())
    seal = document["transfers"][0]["seal"]
    seal["claims"]["size"] += 1
    report = verify_bundle(document, trust_lists, now)
    assert codes(report) == ["seal.signature"]


def test_an_altered_checkpoint_is_detected(exchange, trust_lists, now):
    document = edited(exchange.bundle())
    header, payload, signature = document["log"]["checkpoint"].split(".")
    claims = json.loads(b64url_decode(payload))
    claims["count"] += 1
    document["log"]["checkpoint"] = ".".join((header, b64url(canonical_bytes(claims)), signature))
    report = verify_bundle(document, trust_lists, now)
    found = codes(report)
    assert found[0].startswith("timestamp.") and "checkpoint.signature" in found


def test_a_changed_time_stamp_token_is_detected(exchange, trust_lists, now):
    document = edited(exchange.bundle())
    token = bytearray(base64.b64decode(document["log"]["timestamps"][0]))
    token[-10] ^= 0x01  # inside the TSA's signature
    document["log"]["timestamps"][0] = base64.b64encode(bytes(token)).decode()
    report = verify_bundle(document, trust_lists, now)
    assert report.failures and report.failures[0].code.startswith("timestamp.")


def test_a_bundle_verified_against_another_federation_proves_nothing(exchange, now, tmp_path):
    from connector.evidence.audit import load_trust_list
    from connector.pki.trust_list import issue_trust_list

    other = Authority.init(tmp_path / "other", "Other Federation")
    lists = [load_trust_list(issue_trust_list(other, tmp_path / "other.jws").token, now)]
    report = verify_bundle(exchange.bundle(), lists, now)
    assert not report.ok and "certpath.untrusted" in codes(report)


def test_a_signature_dated_after_the_checkpoint_that_logged_it_is_refused(exchange, trust_lists, now):
    """Signatures and checkpoints are the nodes' own claims of time; the time-stamp bounds them."""
    from connector.evidence.audit import verify_bundle as verify

    late = now + timedelta(days=1)
    report = verify(exchange.bundle(), trust_lists, late)
    assert report.ok  # verifying later changes nothing
    assert report.trusted_time is not None and report.trusted_time < now + timedelta(seconds=5)


def test_an_unsigned_side_is_reported_not_proven_rather_than_failed(exchange, trust_lists, now):
    document = edited(exchange.bundle("provider"))
    document["signatures"]["consumer"] = {"status": "unsigned", "jws": None}
    report = verify_bundle(document, trust_lists, now)
    assert report.ok and not report.complete
    assert statuses(report)["signature.consumer"] == ABSENT


def test_a_malformed_bundle_is_named(trust_lists, now):
    assert codes(verify_bundle({"type": "Something"}, trust_lists, now)) == ["bundle.malformed"]
    assert codes(verify_bundle([], trust_lists, now)) == ["bundle.malformed"]
    assert not verify_bundle({"type": "ConnectorEvidenceBundle", "version": 1}, trust_lists, now).ok


# --- no edit of a disclosed record goes unnoticed -----------------------------------------------------------

FIELDS = ("seq", "at", "kind", "process_id", "peer", "subject_sha256", "data", "prev", "hash")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_single_character_change_in_a_disclosed_record_fails_verification(exchange, trust_lists, data):
    document = exchange.bundle()
    records = document["log"]["proof"]["records"]
    index = data.draw(st.integers(0, len(records) - 1), label="record")
    name = data.draw(st.sampled_from(FIELDS), label="field")
    record = records[index]
    value = record[name]
    if name == "seq":
        record[name] = value + data.draw(st.sampled_from([-1, 1, len(records)]))
    elif isinstance(value, str):
        record[name] = flip(value, data.draw(st.integers(0, len(value) - 1)))
    elif value is None:
        record[name] = "did:web:example.com" if name == "peer" else "0" * 64
    else:  # data: change one value inside, or add a key
        record[name] = {**value, "tampered": True}
    report = verify_bundle(document, trust_lists, datetime.now(UTC))
    assert not report.ok and report.failures[0].status == FAILED
    assert (report.failures[0].code or "").startswith("inclusion."), report.failures[0]


def test_a_signature_carries_the_signer_s_certificate_for_offline_verification(exchange):
    jws = exchange.bundle()["signatures"]["provider"]["jws"]
    chain = json.loads(b64url_decode(jws.split(".")[0]))["x5c"]
    cert = keys.load_certificate(exchange.provider.dir / "signing.cert.pem")
    assert chain[0] == x5c_of([cert])[0]


def test_a_trust_list_past_its_validity_vouches_only_for_evidence_time_stamped_within_it(exchange, fresh_dir):
    import time

    from connector.pki.trust_list import issue_trust_list

    shutil.copy(exchange.bundles["consumer"], fresh_dir / "bundle.json")
    authority = exchange.federation.authority
    issue_trust_list(authority, fresh_dir / "expired.jws", valid_days=1 / 86400)  # valid from 5 minutes ago
    future = datetime.now(UTC) + timedelta(minutes=10)
    issue_trust_list(authority, fresh_dir / "future.jws", valid_days=1, now=future)  # valid from 5 minutes ahead
    time.sleep(1.5)
    covered = cli("evidence", "verify", "bundle.json", "--trust-list", "expired.jws", cwd=fresh_dir)
    assert covered.returncode == 0 and "is not valid now" in covered.stdout, covered.stdout + covered.stderr
    outside = cli("evidence", "verify", "bundle.json", "--trust-list", "future.jws", cwd=fresh_dir)
    assert outside.returncode == 1 and "trust_list.validity" in outside.stdout, outside.stdout + outside.stderr


def _tokens(value, path=()):
    """(path, compact JWS) of every token in a bundle."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _tokens(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _tokens(item, (*path, index))
    elif isinstance(value, str) and value.count(".") == 2 and value.startswith("eyJ"):
        yield path, value


def test_any_token_whose_header_or_payload_nests_past_reading_fails_verification(exchange, trust_lists, now):
    deep = b64url(b"[" * 100_000)
    found = list(_tokens(exchange.bundle()))
    assert len(found) >= 3  # the checkpoint and both signatures at least
    for path, token in found:
        header, payload, signature = token.split(".")
        for hostile in (f"{deep}.{payload}.{signature}", f"{header}.{deep}.{signature}"):
            document = exchange.bundle()
            target = document
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = hostile
            report = verify_bundle(document, trust_lists, now)
            assert report.failures, (path, hostile[:10])
