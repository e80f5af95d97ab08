"""Large JSON values kept once by their hash: whatever is compacted is read back byte for byte, parts are shared,
and what cannot be restored exactly is kept as it is."""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.canonical import canonical_bytes
from connector.records import content


def canonical(value):
    return canonical_bytes(value).decode("utf-8")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


CERT = base64.b64encode(bytes(range(256)) * 3).decode("ascii")  # a stand-in for a DER certificate in an x5c


def jws(header: dict, payload: str = "", signature: str = "c2lnbmF0dXJl") -> str:
    return b64url(json.dumps(header).encode()) + "." + payload + "." + signature


def stored(value, encode=canonical):
    text = encode(value)
    row, parts = content.compact(value, text, encode)
    return text, row, parts


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=700),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6),
    max_leaves=40,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_any_value_is_read_back_exactly(value):
    for encode in (canonical, lambda v: json.dumps(v, sort_keys=True, separators=(",", ":"))):
        text, row, parts = stored(value, encode)
        assert content.expand(row, parts.get) == text
        assert all(content.sha256_text(content.expand(r, parts.get)) == sha for sha, r in parts.items())


@settings(max_examples=100, deadline=None)
@given(st.lists(json_values, min_size=1, max_size=4), st.lists(json_values, min_size=1, max_size=3))
def test_parts_remembered_from_earlier_values_give_the_same_rows_and_parts(shared, others):
    # Values that share large members, each compacted with the parts remembered from those before it (a peer's
    # credentials in every step's claims, an offer's rules in every message): the same row and the same parts as
    # compacting each one afresh, at whatever depth a remembered part comes back.
    known: dict = {}
    values = [{"a": shared, "b": other, "c": [shared]} for other in others] + [shared, [[shared]], others]
    for value in values * 2:
        for encode, threshold in ((canonical, content.THRESHOLD), (canonical, 16)):
            text = encode(value)
            assert content.compact(value, text, encode, threshold, known) == content.compact(
                value, text, encode, threshold
            )


def test_a_part_remembered_is_not_taken_apart_again():
    policy = {"permission": [{"action": "use", "constraint": [{"k": str(i), "v": "v" * 90}]} for i in range(8)]}
    calls = []

    def encode(value):
        calls.append(value)
        return canonical(value)

    known: dict = {}
    first = {"@id": "urn:a", "policy": policy}
    content.compact(first, canonical(first), encode, 128, known)
    afresh = len(calls)
    calls.clear()
    second = {"@id": "urn:b", "policy": policy}
    row, parts = content.compact(second, canonical(second), encode, 128, known)
    assert (row, parts) == content.compact(second, canonical(second), canonical, 128)
    assert len(calls) == 2 < afresh  # the policy's text, to find its hash, and the new row; nothing inside it


def test_large_members_become_parts_shared_by_every_value_that_holds_them():
    policy = {
        "permission": [
            {"action": "use", "constraint": [{"leftOperand": f"k{i}", "rightOperand": "v" * 40}]} for i in range(8)
        ]
    }
    first = {"@id": "urn:a", "policy": policy}
    second = {"@id": "urn:b", "policy": policy}
    (_, row_a, parts_a), (_, row_b, parts_b) = stored(first), stored(second)
    shared = content.sha256_text(canonical(policy))
    assert shared in parts_a and shared in parts_b and row_a != row_b
    assert content.references(row_a) == [shared] and len(row_a) < 120


def test_the_certificates_of_a_signature_header_are_parts_and_the_signature_is_restored():
    token = jws({"alg": "ES256", "kid": "did:web:a#k", "x5c": [CERT, CERT[::-1]]}, "", "c2ln")
    text, row, parts = stored(token)
    assert row.startswith(content.JWS) and CERT not in row and len(row) < len(text) / 3
    assert content.sha256_text(json.dumps(CERT)) in parts
    assert content.expand(row, parts.get) == text
    message = {"@type": "ContractAgreementMessage", "signature": token}
    _, message_row, message_parts = stored(message)
    assert content.sha256_text(text) in message_parts  # the same row as the signature on its own


def test_a_header_written_otherwise_than_it_reads_back_is_kept_as_it_is():
    padded = base64.urlsafe_b64encode(json.dumps({"x5c": [CERT]}).encode()).decode()  # with "=" padding
    for token in (padded + ".." + "c2ln", "a" * 600, "not.a.jws" + "x" * 600):
        text, row, parts = stored(token)
        assert row == text and not parts


def test_a_string_shaped_as_a_signature_whose_header_nests_past_reading_is_kept_as_it_is():
    # Any string a peer sends is stored: one that looks like a compact JWS is no reason to fail the write.
    value = {"rightOperand": b64url(b"[" * 1000) + ".e30.c2ln", "other": "x" * 600}
    text, row, parts = stored(value)
    assert content.expand(row, parts.get) == text


def test_a_text_holding_the_reference_escape_itself_is_never_compacted():
    value = {"a": "\x01" + "0" * 64, "b": "x" * 800}
    text, row, parts = stored(value)
    assert row == text and parts == {}


def test_a_missing_part_is_a_lookup_error():
    _, row, parts = stored({"big": "y" * 900})
    try:
        content.expand(row, {}.get)
    except LookupError as exc:
        assert str(exc).strip("'") in parts
    else:
        raise AssertionError("a missing part must not read as anything")


def test_a_text_compacted_again_is_remembered_and_gives_the_same_row_and_parts(monkeypatch):
    from connector.store.sql import content as columns

    value = {"presentation": jws({"alg": "ES256", "x5c": [CERT]}), "claims": {"name": "x" * 600}}
    text = canonical(value)
    first = columns.compacted(value, text, canonical)
    assert first == content.compact(value, text, canonical) and first[1]

    def walked(*args):
        raise AssertionError("compacted again")

    monkeypatch.setattr(content, "compact", walked)
    assert columns.compacted(json.loads(text), text, canonical) == first


def test_a_compact_row_read_again_is_not_expanded_again(monkeypatch):
    from connector.store.sql import content as columns

    value = {"claims": {"name": "y" * 700}, "at": "2026"}
    text = canonical(value)
    row, parts = content.compact(value, text, canonical)
    assert row != text

    class Tx:  # the parts, as the content table holds them (unpacked)
        dialect = "sqlite"

        def execute(self, sql, params):
            class Found:
                def fetchone(self_inner):
                    return (parts[params[0]], None) if params[0] in parts else None

            return Found()

    columns._parts.clear()
    assert columns.column_text(Tx(), row) == text

    def expanded(*args):
        raise AssertionError("expanded again")

    monkeypatch.setattr(content, "expand", expanded)
    assert columns.column_text(Tx(), row) == text
