"""The shortcuts taken on every evidence record and signature give exactly what the general definitions give."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.canonical import json_sha256
from connector.evidence import certpath
from connector.evidence import chain as ch
from connector.evidence.certpath import validate_path
from connector.evidence.errors import EvidenceError
from connector.evidence.rfc3339 import format_utc, parse_utc
from connector.keys import generate_key

HEX = "0123456789abcdef"
texts = st.text(max_size=12) | st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=4)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(
    texts,
    texts,
    st.none() | texts,
    st.none() | texts,
    st.none() | st.text(alphabet=HEX, min_size=64, max_size=64),
    st.dictionaries(texts, json_values, max_size=4),
)
def test_the_body_hash_is_the_hash_of_the_canonical_body_object(at, kind, process_id, peer, subject, data):
    try:
        expected = json_sha256(
            {"at": at, "kind": kind, "process_id": process_id, "peer": peer, "subject_sha256": subject, "data": data}
        )
    except ValueError:
        return  # not canonicalisable (e.g. a lone surrogate): no hash either way
    assert ch.body_sha256_of(at, kind, process_id, peer, subject, data) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.integers(-5, 2**60),
    st.text(alphabet=HEX, min_size=64, max_size=64) | st.text(max_size=70),
    st.text(alphabet=HEX, min_size=64, max_size=64) | st.text(max_size=70),
)
def test_the_link_hash_is_the_hash_of_the_canonical_link_object(seq, prev, body):
    try:
        expected = json_sha256({"body_sha256": body, "prev": prev, "seq": seq})
    except ValueError:
        return
    assert ch.link_hash(seq, prev, body) == expected


def test_a_record_keeps_the_canonical_bytes_of_its_data():
    from connector.canonical import canonical_bytes

    record = ch.make_record(
        None, at=datetime.now(UTC), kind=ch.STATE_CHANGED, data={"b": [1, 2.5, "é"], "a": {"z": None}}
    )
    assert record.data_json == canonical_bytes(record.data)


moments = st.datetimes(
    min_value=datetime(1000, 1, 1),
    max_value=datetime(9999, 12, 31),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-3, minutes=-30))]),
)


@given(moments)
def test_times_are_written_and_read_back_as_before(moment):
    utc = moment.astimezone(UTC)
    text = format_utc(moment)
    assert text == utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond:06d}Z"
    assert parse_utc(text) == datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@given(st.text(alphabet=string.digits + "-T:.Z٣", min_size=27, max_size=27))
def test_a_time_text_is_accepted_or_refused_as_before(text):
    try:
        expected: Any = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        expected = None
    try:
        got: Any = parse_utc(text)
    except EvidenceError:
        got = None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", text):
        assert got == expected
    else:
        assert got is None


def test_a_path_validated_before_is_still_checked_against_the_instant(fed: Any, build: Any) -> None:
    leaf = build("leaf", generate_key(), fed.key, fed.root, not_after=fed.now + timedelta(days=1))
    assert validate_path(leaf, [], [fed.root], fed.now).certs == (leaf, fed.root)
    later = fed.now + timedelta(days=2)
    with pytest.raises(EvidenceError) as remembered:
        validate_path(leaf, [], [fed.root], later)
    certpath._VALID_PATHS.clear()  # the same question, answered from scratch
    with pytest.raises(EvidenceError) as fresh:
        validate_path(leaf, [], [fed.root], later)
    assert (remembered.value.code, remembered.value.reason) == (fresh.value.code, fresh.value.reason)
    assert remembered.value.code == "certpath.validity"


@settings(max_examples=400, deadline=None)
@given(
    json_values
    | st.lists(json_values, max_size=3).map(tuple)
    | st.dictionaries(st.integers(0, 3) | st.booleans(), json_values, max_size=2)
)
def test_canonical_bytes_are_what_the_full_rfc8785_encoder_writes(value):
    import rfc8785

    from connector.canonical import canonical_bytes

    try:
        expected = rfc8785.dumps(value)
    except (ValueError, TypeError):
        with pytest.raises((ValueError, TypeError)):
            canonical_bytes(value)
        return
    assert canonical_bytes(value) == expected
