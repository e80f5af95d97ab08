import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.canonical import canonical_bytes

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400)
@given(json_values)
def test_canonical_bytes_are_exactly_rfc_8785(value):
    assert canonical_bytes(value) == rfc8785.dumps(value)


def test_the_fast_path_covers_control_characters_and_unicode_values():
    value = {"b": "line\nbreak\u0001\u2028é😀", "a": [1, -2, True, None, '"quoted" \\ /']}
    assert canonical_bytes(value) == rfc8785.dumps(value)
