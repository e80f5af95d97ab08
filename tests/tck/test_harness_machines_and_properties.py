"""The harness's own pieces, without a node: the TCK's state machines, the properties reader, the sample ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tck import java_properties
from tck.sample_ids import SAMPLE_IDS
from tck.tck_machines import (
    NEGOTIATION_MOVES,
    TRANSFER_MOVES,
    IllegalTransition,
    NegotiationState,
    NegotiationView,
    Side,
    TransferState,
    TransferView,
)

N, T = NegotiationState, TransferState

# TCK.md, notes (1), written out pair by pair.
TCK_NEGOTIATION_PAIRS = {
    (N.INITIALIZED, N.REQUESTED),
    (N.INITIALIZED, N.OFFERED),
    (N.INITIALIZED, N.TERMINATED),
    (N.REQUESTED, N.OFFERED),
    (N.REQUESTED, N.AGREED),
    (N.REQUESTED, N.TERMINATED),
    (N.OFFERED, N.REQUESTED),
    (N.OFFERED, N.OFFERED),
    (N.OFFERED, N.ACCEPTED),
    (N.OFFERED, N.TERMINATED),
    (N.ACCEPTED, N.AGREED),
    (N.ACCEPTED, N.TERMINATED),
    (N.AGREED, N.VERIFIED),
    (N.AGREED, N.TERMINATED),
    (N.VERIFIED, N.FINALIZED),
    (N.VERIFIED, N.TERMINATED),
}
TCK_TRANSFER_PAIRS = {
    (T.INITIALIZED, T.REQUESTED),
    (T.REQUESTED, T.STARTED),
    (T.REQUESTED, T.TERMINATED),
    (T.SUSPENDED, T.STARTED),
    (T.SUSPENDED, T.TERMINATED),
    (T.STARTED, T.SUSPENDED),
    (T.STARTED, T.COMPLETED),
    (T.STARTED, T.TERMINATED),
}


def test_negotiation_machine_is_the_tcks() -> None:
    pairs = {(a, b) for a, targets in NEGOTIATION_MOVES.items() for b in targets}
    assert pairs == TCK_NEGOTIATION_PAIRS
    assert set(NEGOTIATION_MOVES) == set(N)


def test_transfer_machine_is_the_tcks() -> None:
    pairs = {(a, b) for a, targets in TRANSFER_MOVES.items() for b in targets}
    assert pairs == TCK_TRANSFER_PAIRS
    assert set(TRANSFER_MOVES) == set(T)


@pytest.mark.parametrize("final", [N.FINALIZED, N.TERMINATED])
def test_final_negotiation_states_refuse_everything(final: NegotiationState) -> None:
    view = NegotiationView(Side.CONSUMER, "c", "d", "o", state=final)
    for target in N:
        with pytest.raises(IllegalTransition, match="final state"):
            view.move(target)


@given(st.lists(st.sampled_from(list(N)), max_size=12))
def test_negotiation_view_moves_exactly_when_the_machine_allows(walk: list[NegotiationState]) -> None:
    view = NegotiationView(Side.PROVIDER, "p", "d", "o")
    for target in walk:
        before, allowed = view.state, (view.state, target) in TCK_NEGOTIATION_PAIRS
        assert view.can_move(target) is allowed
        if allowed:
            view.move(target)
            assert view.state is target and view.history[-1] is before
        else:
            with pytest.raises(IllegalTransition):
                view.move(target)
            assert view.state is before


@given(st.lists(st.sampled_from(list(T)), max_size=12))
def test_transfer_view_moves_exactly_when_the_machine_allows(walk: list[TransferState]) -> None:
    view = TransferView(Side.CONSUMER, "c", "a", "HttpData-PULL")
    for target in walk:
        before, allowed = view.state, (view.state, target) in TCK_TRANSFER_PAIRS
        if allowed:
            view.move(target)
            assert view.state is target
        else:
            with pytest.raises(IllegalTransition):
                view.move(target)
            assert view.state is before


def test_views_name_pids_by_role() -> None:
    consumer = NegotiationView(Side.CONSUMER, "tck", "d", "o", cut_pid="node")
    provider = TransferView(Side.PROVIDER, "tck", "a", "f", cut_pid="node")
    assert (consumer.consumer_pid, consumer.provider_pid) == ("tck", "node")
    assert (provider.provider_pid, provider.consumer_pid) == ("tck", "node")


# --- Java properties -----------------------------------------------------------------------------------------


def test_properties_reader_follows_java_rules() -> None:
    text = "\n".join(
        [
            "# comment",
            "! also a comment",
            "a=1",
            "b : 2",
            "c   3",
            "  d = spaced value  ",
            "e=first \\",
            "    second",
            "f=\\u00e9\\ud83d\\ude00",
            "g\\ h=i",
            "j",
            "k=\\=\\:\\\\",
            "a=later",
            'auth="{\\"region\\": \\"any\\"}"',
            "# trailing comment \\",
            "l=after",
        ]
    )
    assert java_properties.loads(text) == {
        "a": "later",
        "b": "2",
        "c": "3",
        "d": "spaced value  ",
        "e": "first second",
        "f": "é😀",
        "g h": "i",
        "j": "",
        "k": "=:\\",
        "auth": '"{"region": "any"}"',
        "l": "after",
    }


def test_properties_reader_refuses_a_broken_unicode_escape() -> None:
    with pytest.raises(java_properties.PropertiesError):
        java_properties.loads("a=\\u12")


@given(st.dictionaries(st.text(max_size=15), st.text(max_size=30), max_size=8))
def test_properties_written_are_read_back(values: dict[str, str]) -> None:
    assert java_properties.loads(java_properties.dumps(values)) == values


# --- the sample ids ------------------------------------------------------------------------------------------


def test_sample_ids_cover_every_scenario_of_the_tck() -> None:
    datasets = [k for k in SAMPLE_IDS if k.endswith("_DATASETID")]
    agreements = [k for k in SAMPLE_IDS if k.endswith("_AGREEMENTID")]
    assert len(datasets) == 3 + 15 + 16 and len(agreements) == 16 + 16  # incl. the two disabled TP ids
    assert SAMPLE_IDS["CN_02_07_OFFERID"] == "CD123:ACN0207:456"
    assert SAMPLE_IDS["CN_C_03_06_DATASETID"] == "ACNC0306"
    assert SAMPLE_IDS["TP_03_06_FORMAT"] == "HttpData-PULL"
    assert SAMPLE_IDS["TP_C_01_05_AGREEMENTID"] == "ATPC0104"
    assert SAMPLE_IDS["CAT_01_03_DATASETID"] == "CAT0103"
