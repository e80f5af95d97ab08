from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from connector.canonical import canonical_bytes, json_sha256
from connector.evidence import chain as ch
from connector.evidence.chain import GENESIS, ChainHead, Record, make_record, verify_chain
from connector.evidence.errors import EvidenceError
from connector.evidence.rfc3339 import format_utc, parse_utc

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
PEER = "did:web:localhost%3A8443:org-b"


def build(n: int, *, data: list[dict] | None = None) -> list[Record]:
    records: list[Record] = []
    kinds = sorted(ch.KNOWN_KINDS)
    for i in range(n):
        records.append(
            make_record(
                records[-1] if records else None,
                at=T0 + timedelta(seconds=i, microseconds=7 * i),
                kind=kinds[i % len(kinds)],
                process_id=f"urn:uuid:neg-{i % 3}",
                peer=PEER if i % 2 else None,
                subject_sha256=json_sha256({"message": i}) if i % 2 == 0 else None,
                data=(data[i] if data else {"i": i, "note": "x" * (i % 4)}),
            )
        )
    return records


# --- construction ------------------------------------------------------------------------------------------


def test_first_record_starts_at_seq_one_with_genesis_prev() -> None:
    record = make_record(None, at=T0, kind=ch.DSP_RECEIVED)
    assert (record.seq, record.prev) == (1, GENESIS)
    assert record.intact


def test_each_record_links_to_the_hash_of_the_one_before() -> None:
    records = build(5)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    for before, after in zip(records, records[1:]):
        assert after.prev == before.hash


def test_record_hash_is_the_documented_two_level_hash() -> None:
    record = build(3)[2]
    body = {
        "at": record.at,
        "kind": record.kind,
        "process_id": record.process_id,
        "peer": record.peer,
        "subject_sha256": record.subject_sha256,
        "data": record.data,
    }
    expected = json_sha256({"body_sha256": json_sha256(body), "prev": record.prev, "seq": record.seq})
    assert record.hash == expected


def test_make_record_continues_from_a_stored_head() -> None:
    records = build(3)
    follow = make_record(records[-1].head, at=T0, kind=ch.CHECKPOINT)
    assert (follow.seq, follow.prev) == (4, records[-1].hash)
    assert verify_chain([*records, follow]).ok


def test_time_is_stored_in_utc_with_microseconds() -> None:
    offset = timezone(timedelta(hours=2))
    record = make_record(None, at=datetime(2025, 1, 2, 5, 4, 5, 6, tzinfo=offset), kind=ch.STATE_CHANGED)
    assert record.at == "2025-01-02T03:04:05.000006Z"
    assert record.at_datetime == datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_naive_time_is_refused() -> None:
    with pytest.raises(EvidenceError) as err:
        make_record(None, at=datetime(2025, 1, 1), kind=ch.DSP_SENT)
    assert err.value.code == "time.naive"


@pytest.mark.parametrize(
    "field, value",
    [
        ("kind", "Not A Kind"),
        ("peer", "https://example.org"),
        ("subject_sha256", "ABC"),
        ("process_id", ""),
        ("data", {"n": float("nan")}),
        ("data", {"big": "x" * (ch.MAX_DATA_BYTES + 1)}),
        ("data", {"int": 2**60}),
    ],
)
def test_make_record_refuses_invalid_fields(field: str, value: object) -> None:
    kwargs: dict = {"kind": ch.DSP_SENT, field: value}
    with pytest.raises(EvidenceError) as err:
        make_record(None, at=T0, **kwargs)
    assert err.value.code == "chain.record_malformed"
    assert err.value.where == field


def test_data_changed_by_the_caller_after_hashing_does_not_reach_the_record() -> None:
    data = {"list": [1, 2]}
    record = make_record(None, at=T0, kind=ch.POLICY_DECIDED, data=data)
    data["list"].append(3)
    assert record.data == {"list": [1, 2]}
    assert record.intact


def test_unknown_dotted_kinds_are_accepted_for_forward_compatibility() -> None:
    assert make_record(None, at=T0, kind="transfer.suspended").intact


# --- export form -------------------------------------------------------------------------------------------


def test_export_line_round_trips() -> None:
    for record in build(4):
        assert Record.from_line(record.to_line()) == record
        assert Record.from_json(json.loads(record.to_line())) == record


def test_non_canonical_spelling_of_a_record_is_refused() -> None:
    record = build(1)[0]
    pretty = json.dumps(record.to_json(), indent=1).encode()
    with pytest.raises(EvidenceError, match="canonical"):
        Record.from_line(pretty)


@pytest.mark.parametrize("change", ["extra", "missing"])
def test_record_with_unknown_or_missing_fields_is_refused(change: str) -> None:
    obj = build(1)[0].to_json()
    if change == "extra":
        obj["comment"] = "hi"
    else:
        del obj["peer"]
    with pytest.raises(EvidenceError, match="schema"):
        Record.from_json(obj)


# --- tampering, each named ---------------------------------------------------------------------------------


def test_intact_chain_verifies_and_reports_its_head() -> None:
    records = build(6)
    report = verify_chain(records)
    assert report.ok and report.problem is None
    assert report.verified == 6
    assert report.head == ChainHead(6, records[-1].hash)


def test_empty_chain_is_valid_with_genesis_head() -> None:
    report = verify_chain([])
    assert report.ok and report.head == ChainHead(0, GENESIS)


def test_changed_byte_in_an_export_is_named_altered() -> None:
    lines = [r.to_line() for r in build(5)]
    lines[2] = lines[2].replace(b'"i":2', b'"i":3')
    report = verify_chain(lines)
    assert report.first_break is not None
    assert (report.first_break.kind, report.first_break.seq, report.first_break.position) == (ch.ALTERED, 3, 2)
    assert report.verified == 2 and report.head.count == 2
    assert report.problem is not None and report.problem.code == "chain.altered"


def test_changed_hash_field_is_named_altered() -> None:
    records = build(3)
    records[1] = replace(records[1], hash="f" * 64)
    assert verify_chain(records).first_break.kind == ch.ALTERED  # type: ignore[union-attr]


def test_removed_record_is_named_missing_with_its_seq() -> None:
    records = build(5)
    del records[2]
    brk = verify_chain(records).first_break
    assert brk is not None and (brk.kind, brk.seq) == (ch.MISSING, 3)


def test_removed_first_record_is_named_missing() -> None:
    brk = verify_chain(build(3)[1:]).first_break
    assert brk is not None and (brk.kind, brk.seq) == (ch.MISSING, 1)


def test_several_removed_records_are_named_as_a_gap() -> None:
    records = build(6)
    brk = verify_chain(records[:2] + records[4:]).first_break
    assert brk is not None and brk.kind == ch.MISSING and "3..4" in brk.reason


def test_reordered_records_are_named_reordered() -> None:
    records = build(5)
    records[1], records[3] = records[3], records[1]
    brk = verify_chain(records).first_break
    assert brk is not None and (brk.kind, brk.seq, brk.position) == (ch.REORDERED, 2, 1)


def test_inserted_forged_record_is_named_inserted() -> None:
    records = build(5)
    forged = make_record(records[1], at=T0, kind=ch.AGREEMENT_SIGNED, data={"forged": True})
    records.insert(2, forged)
    brk = verify_chain(records).first_break
    assert brk is not None and (brk.kind, brk.seq) == (ch.INSERTED, 3)


def test_repeated_record_is_named_duplicate() -> None:
    records = build(4)
    records.insert(3, records[1])
    brk = verify_chain(records).first_break
    assert brk is not None and (brk.kind, brk.seq) == (ch.DUPLICATE, 2)


def test_replaced_record_with_a_valid_hash_breaks_the_next_link() -> None:
    records = build(5)
    records[2] = make_record(records[1], at=T0, kind=ch.POLICY_DECIDED, data={"decision": "permit"})
    brk = verify_chain(records).first_break
    assert brk is not None and (brk.kind, brk.seq) == (ch.WRONG_PREV, 4)


def test_unreadable_entry_is_named_malformed() -> None:
    lines: list = [r.to_line() for r in build(3)]
    lines[1] = b"{not json"
    brk = verify_chain(lines).first_break
    assert brk is not None and (brk.kind, brk.seq, brk.position) == (ch.MALFORMED, None, 1)


def test_chain_not_starting_at_genesis_is_refused_without_start_prev() -> None:
    records = build(4)
    brk = verify_chain(records[2:]).first_break
    assert brk is not None and brk.kind == ch.MISSING


def test_segment_verifies_from_a_known_previous_hash() -> None:
    records = build(6)
    report = verify_chain(records[3:], start_prev=records[2].hash)
    assert report.ok and report.head == ChainHead(6, records[-1].hash)
    wrong = verify_chain(records[3:], start_prev=records[1].hash).first_break
    assert wrong is not None and wrong.kind == ch.WRONG_PREV


def test_segment_with_wrong_start_seq_is_refused() -> None:
    records = build(6)
    early = verify_chain(records[3:], start_prev=records[2].hash, start_seq=3).first_break
    assert early is not None and (early.kind, early.seq) == (ch.MISSING, 3)
    late = verify_chain(records[3:], start_prev=records[2].hash, start_seq=5).first_break
    assert late is not None and late.kind == ch.REORDERED


# --- against a committed head (checkpoint) -----------------------------------------------------------------


def test_truncated_log_is_detected_against_the_committed_head() -> None:
    records = build(5)
    assert verify_chain(records[:4]).ok  # the chain alone cannot see a removed tail
    brk = verify_chain(records[:4], expect_head=records[-1].head).first_break
    assert brk is not None and (brk.kind, brk.seq) == (ch.TRUNCATED, 5)


def test_rewritten_log_is_detected_against_the_committed_head() -> None:
    records = build(5)
    rewritten = records[:2]
    for i in range(2, 5):
        rewritten.append(make_record(rewritten[-1], at=T0, kind=ch.DSP_SENT, data={"i": i}))
    assert verify_chain(rewritten).ok
    brk = verify_chain(rewritten, expect_head=records[3].head).first_break
    assert brk is not None and (brk.kind, brk.seq) == (ch.DIVERGED, 4)


def test_records_appended_after_the_committed_head_are_fine() -> None:
    records = build(6)
    assert verify_chain(records, expect_head=records[3].head).ok


def test_committed_head_before_a_segment_is_not_covered() -> None:
    records = build(6)
    report = verify_chain(records[3:], start_prev=records[2].hash, expect_head=records[0].head)
    assert report.first_break is not None and report.first_break.kind == ch.NOT_COVERED
    at_start = verify_chain(records[3:], start_prev=records[2].hash, expect_head=records[2].head)
    assert at_start.ok


# --- properties --------------------------------------------------------------------------------------------

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=12))
small_data = st.dictionaries(st.text(max_size=6), json_scalars, max_size=3)


@st.composite
def chains(draw: st.DrawFn, min_size: int = 1) -> list[Record]:
    n = draw(st.integers(min_size, 7))
    return build(n, data=[draw(small_data) for _ in range(n)])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chain=chains(), data=st.data())
def test_any_single_mutation_of_a_chain_is_detected(chain: list[Record], data: st.DataObject) -> None:
    n = len(chain)
    lines: list[bytes] = [r.to_line() for r in chain]
    head = chain[-1].head
    mutation = data.draw(st.sampled_from(["byte", "remove", "swap", "duplicate", "insert", "replace"]))
    if mutation == "byte":
        i = data.draw(st.integers(0, n - 1))
        line = bytearray(lines[i])
        pos = data.draw(st.integers(0, len(line) - 1))
        new = data.draw(st.integers(0, 255).filter(lambda b: b != line[pos]))
        line[pos] = new
        lines[i] = bytes(line)
        mutated: list = lines
    elif mutation == "remove":
        i = data.draw(st.integers(0, n - 1))
        mutated = chain[:i] + chain[i + 1 :]
    elif mutation == "swap":
        assume(n >= 2)
        i, j = data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
        mutated = list(chain)
        mutated[i], mutated[j] = mutated[j], mutated[i]
    elif mutation == "duplicate":
        i = data.draw(st.integers(0, n - 1))
        j = data.draw(st.integers(0, n))
        mutated = list(chain)
        mutated.insert(j, chain[i])
    elif mutation == "insert":
        j = data.draw(st.integers(0, n - 1))  # inserting after the last record is a legitimate append
        seq_before = data.draw(st.integers(0, n))
        prev = chain[seq_before - 1] if seq_before else None
        forged = make_record(prev, at=T0, kind=ch.DSP_RECEIVED, data={"forged": data.draw(small_data)})
        mutated = list(chain)
        mutated.insert(j, forged)
    else:
        i = data.draw(st.integers(0, n - 1))
        forged = make_record(chain[i - 1] if i else None, at=T0 + timedelta(days=1), kind=ch.DSP_SENT, data={"x": 1})
        mutated = list(chain)
        mutated[i] = forged
    report = verify_chain(mutated, expect_head=head)
    assert not report.ok, mutation


@settings(max_examples=60, deadline=None)
@given(chain=chains())
def test_unmutated_chains_always_verify(chain: list[Record]) -> None:
    assert verify_chain([r.to_line() for r in chain], expect_head=chain[-1].head).ok


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=200))
def test_record_parser_never_raises_anything_but_evidence_errors(blob: bytes | str) -> None:
    try:
        Record.from_line(blob)
    except EvidenceError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(ch.FIELDS), json_scalars | small_data, max_size=9))
def test_record_schema_parser_never_raises_anything_but_evidence_errors(obj: dict) -> None:
    try:
        Record.from_json(obj)
    except EvidenceError:
        pass


@given(st.datetimes(timezones=st.just(UTC), min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1)))
def test_time_spelling_round_trips(moment: datetime) -> None:
    assert parse_utc(format_utc(moment)) == moment


@pytest.mark.parametrize(
    "text", ["2025-01-01T00:00:00Z", "2025-01-01T00:00:00.000000+00:00", "2025-13-01T00:00:00.000000Z", 17]
)
def test_other_time_spellings_are_refused(text: object) -> None:
    with pytest.raises(EvidenceError):
        parse_utc(text)


def test_canonical_line_is_what_rfc8785_produces() -> None:
    record = build(2)[1]
    assert record.to_line() == canonical_bytes(record.to_json())
