"""Process ids are opaque path segments and callbacks https base URLs: the rules, and a process id in a URL."""

from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from connector.dsp.process_messages import callback_problem, pid_problem, pid_segment


@given(st.text(min_size=1, max_size=300))
def test_an_accepted_process_id_is_one_segment_that_decodes_to_itself(pid):
    if pid_problem(pid) is None:
        segment = pid_segment(pid)
        assert "/" not in segment and "?" not in segment and "#" not in segment and ".." not in segment
        assert unquote(segment) == pid


def test_the_ids_peers_use_are_accepted_as_they_are():
    for pid in ("urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab", "CD123:ACN0101:456", "7c4e2b1a"):
        assert pid_problem(pid) is None and pid_segment(pid) == pid


def test_callbacks_are_https_unless_the_test_profile_allows_http():
    assert callback_problem("https://peer.example:8443/dsp/2025-1") is None
    assert callback_problem("http://peer.example/dsp") == "must be an https URL"
    assert callback_problem("http://127.0.0.1:8282/dsp", allow_http=True) is None
    assert callback_problem("https://peer.example/dsp#x") == "may not hold a query or a fragment"
    assert callback_problem("https:// peer/dsp") == "may not hold spaces or control characters"
    assert callback_problem(None) == "must be a non-empty string"
