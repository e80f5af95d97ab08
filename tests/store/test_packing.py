"""Texts kept packed (connector.records.packing): read back exactly, smaller than they were, and a damaged packing
refused rather than read as something else."""

from __future__ import annotations

import pytest

from connector.records.packing import FORMAT_1, pack, unpack

TEXTS = [
    "",
    "{}",
    '{"process_prev":null,"type":"ContractRequestMessage"}',
    '{"cause":"sent ContractAgreementMessage","from":"REQUESTED","kind":"negotiation","process_prev":'
    '"b3825811edd4b2fe86339e30a222adec18667ceb6ab82960a818cc17a44d8a15","reason":null,"to":"AGREED"}',
    '{"ü":"\\u0001","emoji":"🙂","lone":"\ud800"}',  # a lone surrogate, as a text of the store may hold one
    "x" * 100_000,
]


@pytest.mark.parametrize("text", TEXTS)
def test_a_packed_text_reads_back_exactly(text):
    packed = pack(text)
    assert packed[0] == FORMAT_1 and unpack(packed) == text and unpack(memoryview(packed)) == text


def test_a_record_s_data_takes_about_half_its_text():
    text = TEXTS[3]
    assert len(pack(text)) < len(text) * 0.6


@pytest.mark.parametrize(
    "damaged",
    [b"", b"\x00abc", b"\x02" + pack("{}")[1:], pack(TEXTS[3])[:-3], pack("{}") + b"more", b"\x01\xff\xff"],
)
def test_a_damaged_packing_is_refused(damaged):
    with pytest.raises(ValueError):
        unpack(damaged)
