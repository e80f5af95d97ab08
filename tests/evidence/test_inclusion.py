from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.evidence import chain as ch
from connector.evidence.chain import (
    ChainHead,
    InclusionProof,
    Record,
    make_inclusion_proof,
    make_record,
    verify_inclusion,
)
from connector.evidence.errors import EvidenceError

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def build(n: int) -> list[Record]:
    records: list[Record] = []
    for i in range(n):
        records.append(
            make_record(
                records[-1] if records else None,
                at=T0 + timedelta(milliseconds=i),
                kind=ch.DSP_RECEIVED if i % 2 else ch.STATE_CHANGED,
                process_id=f"urn:uuid:process-{i % 3}",
                data={"i": i},
            )
        )
    return records


CHAIN = build(12)
HEAD = CHAIN[-1].head
AGREEMENT_SEQS = [r.seq for r in CHAIN if r.process_id == "urn:uuid:process-1"]  # 2, 5, 8, 11


def proof() -> InclusionProof:
    return make_inclusion_proof(CHAIN, AGREEMENT_SEQS)


def refused(p: InclusionProof, head: ChainHead = HEAD) -> str:
    with pytest.raises(EvidenceError) as err:
        verify_inclusion(p, head)
    return err.value.code


def test_proof_for_one_process_verifies_against_the_head() -> None:
    proven = verify_inclusion(proof(), HEAD)
    assert [r.seq for r in proven] == AGREEMENT_SEQS


def test_proof_carries_only_digests_for_the_other_records() -> None:
    p = proof()
    assert len(p.records) == 4
    assert len(p.bodies) == 12 - 2 + 1 - 4  # every other record from seq 2 to 12
    text = json.dumps(p.to_json())
    assert "process-0" not in text and "process-2" not in text


def test_proof_to_an_earlier_checkpoint_is_shorter() -> None:
    p = make_inclusion_proof(CHAIN, [2, 5], upto=6)
    assert len(p.bodies) == 3
    assert [r.seq for r in verify_inclusion(p, CHAIN[5].head)] == [2, 5]


def test_proof_round_trips_through_json() -> None:
    p = proof()
    again = InclusionProof.from_json(json.loads(json.dumps(p.to_json())))
    assert again == p
    assert verify_inclusion(again, HEAD)


def test_altered_disclosed_record_is_refused() -> None:
    p = proof()
    doctored = replace(p.records[1], data={"i": 99})
    assert refused(replace(p, records=(p.records[0], doctored, *p.records[2:]))) == "inclusion.altered"


def test_fabricated_record_with_consistent_hash_is_refused() -> None:
    p = proof()
    fake = make_record(CHAIN[3], at=T0, kind=ch.AGREEMENT_SIGNED, process_id="urn:uuid:process-1")
    records = (p.records[0], fake, *p.records[2:])
    assert refused(replace(p, records=records)) == "inclusion.link"


def test_wrong_body_digest_is_refused() -> None:
    p = proof()
    bodies = list(p.bodies)
    bodies[-1] = "0" * 64
    assert refused(replace(p, bodies=tuple(bodies))) == "inclusion.head"


def test_swapped_body_digests_are_refused() -> None:
    p = proof()
    bodies = list(p.bodies)
    bodies[0], bodies[1] = bodies[1], bodies[0]
    assert refused(replace(p, bodies=tuple(bodies))) in {"inclusion.link", "inclusion.head"}


@pytest.mark.parametrize("change", ["drop", "add"])
def test_wrong_number_of_digests_is_refused(change: str) -> None:
    p = proof()
    bodies = p.bodies[:-1] if change == "drop" else (*p.bodies, "1" * 64)
    assert refused(replace(p, bodies=bodies)) == "inclusion.length"


def test_proof_against_another_head_is_refused() -> None:
    other = build(12)
    other[-1:] = [make_record(other[-2], at=T0, kind=ch.CHECKPOINT)]
    assert refused(proof(), other[-1].head) == "inclusion.head"


def test_proof_for_another_count_is_refused() -> None:
    assert refused(proof(), CHAIN[10].head) == "inclusion.count"


def test_records_out_of_order_are_refused() -> None:
    p = proof()
    assert refused(replace(p, records=tuple(reversed(p.records)))) == "inclusion.order"


def test_empty_proof_is_refused() -> None:
    assert refused(InclusionProof((), (), 12)) == "inclusion.empty"


def test_record_beyond_the_checkpoint_is_refused() -> None:
    p = make_inclusion_proof(CHAIN, [2, 11], upto=12)
    assert refused(replace(p, upto=10), CHAIN[9].head) == "inclusion.beyond"


def test_making_a_proof_from_a_chain_with_a_gap_fails() -> None:
    with pytest.raises(EvidenceError) as err:
        make_inclusion_proof(CHAIN[:4] + CHAIN[5:], [2])
    assert err.value.code == "inclusion.incomplete"


def test_making_a_proof_from_a_broken_chain_fails() -> None:
    broken = list(CHAIN)
    broken[6] = make_record(broken[5], at=T0, kind=ch.DSP_SENT, data={"replaced": True})
    with pytest.raises(EvidenceError):
        make_inclusion_proof(broken, [2])


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"records": [], "bodies": []},
        {"records": {}, "bodies": [], "upto": 1},
        {"records": [], "bodies": ["xyz"], "upto": 1},
        {"records": [], "bodies": [], "upto": True},
        {"records": [{"seq": 1}], "bodies": [], "upto": 1},
    ],
)
def test_malformed_proof_json_is_refused(obj: object) -> None:
    with pytest.raises(EvidenceError) as err:
        InclusionProof.from_json(obj)
    assert err.value.code == "inclusion.malformed"


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_any_subset_proves_and_any_single_forgery_is_refused(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 10))
    chain = CHAIN[:n]
    upto = data.draw(st.integers(1, n))
    seqs = data.draw(st.lists(st.integers(1, upto), min_size=1, max_size=upto, unique=True))
    p = make_inclusion_proof(chain, seqs, upto)
    head = chain[upto - 1].head
    assert [r.seq for r in verify_inclusion(p, head)] == sorted(seqs)

    forgery = data.draw(st.sampled_from(["record", "body", "drop_record", "head"]))
    if forgery == "record":
        i = data.draw(st.integers(0, len(p.records) - 1))
        target = p.records[i]
        forged = make_record(chain[target.seq - 2] if target.seq > 1 else None, at=T0, kind=ch.SEAL_SENT)
        forged_proof = replace(p, records=p.records[:i] + (forged,) + p.records[i + 1 :])
    elif forgery == "body":
        if not p.bodies:
            return
        i = data.draw(st.integers(0, len(p.bodies) - 1))
        forged_proof = replace(p, bodies=p.bodies[:i] + ("e" * 64,) + p.bodies[i + 1 :])
    elif forgery == "drop_record":
        if len(p.records) < 2:
            return
        # Dropping the first record can leave a valid proof of the rest; a later one leaves a hole.
        i = data.draw(st.integers(1, len(p.records) - 1))
        forged_proof = replace(p, records=p.records[:i] + p.records[i + 1 :])
    else:
        head = ChainHead(head.count, "d" * 64)
        forged_proof = p
    with pytest.raises(EvidenceError):
        verify_inclusion(forged_proof, head)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 20) | st.text(max_size=8) | st.just("a" * 64),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(
    st.fixed_dictionaries({}, optional={"records": json_values, "bodies": json_values, "upto": json_values})
    | json_values
)
def test_proof_parser_never_raises_anything_but_evidence_errors(obj: object) -> None:
    try:
        parsed = InclusionProof.from_json(obj)
    except EvidenceError:
        return
    try:
        verify_inclusion(parsed, HEAD)
    except EvidenceError:
        return
    raise AssertionError("an arbitrary proof verified")  # pragma: no cover
