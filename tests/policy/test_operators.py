"""Every operator, per value kind, against a reference semantics written independently of the engine."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.policy.engine import evaluate, parse_policy
from connector.policy.regions import BUILTIN_REGIONS
from connector.policy.trace import NOT_EVALUABLE, SATISFIED

UTC = UTC
SET_OPERATORS = ["eq", "neq", "isA", "hasPart", "isAllOf", "isAnyOf", "isNoneOf", "isPartOf"]
CHOICE_OPERATORS = ["eq", "neq", "isAnyOf", "isPartOf", "isNoneOf"]
ORDER_OPERATORS = ["eq", "neq", "lt", "lteq", "gt", "gteq"]

words = st.sampled_from(["a", "b", "c", "d", "e"])
word_lists = st.lists(words, min_size=1, max_size=4)


def engine(build: Any, left: str, operator: str, right: Any, ctx: Any) -> str:
    decision = evaluate(parse_policy(build.policy(build.atom(left, operator, right))), ctx)
    (node,) = [n for n in decision.trace.walk() if n.kind == "constraint"]
    return node.outcome


def as_outcome(holds: bool) -> str:
    return SATISFIED if holds else "not satisfied"


# -- sets ------------------------------------------------------------------------------------------------------------


def reference_set(operator: str, held: set[str], right: Any) -> bool | None:
    listed = [right] if isinstance(right, str) else list(right)
    if operator == "eq":
        return right in held if isinstance(right, str) else held == set(listed)
    if operator == "neq":
        return right not in held if isinstance(right, str) else held != set(listed)
    if operator == "isA":
        return right in held if isinstance(right, str) else None
    if operator in ("hasPart", "isAllOf"):
        return all(item in held for item in listed)
    if operator == "isAnyOf":
        return any(item in held for item in listed)
    if operator == "isNoneOf":
        return not any(item in held for item in listed)
    return len(held) > 0 and all(item in listed for item in held)  # isPartOf


@given(st.sets(words, max_size=4), st.sampled_from(SET_OPERATORS), st.one_of(words, word_lists))
def test_set_operators_on_membership(build: Any, held: set[str], operator: str, right: Any) -> None:
    expected = reference_set(operator, held, right)
    got = engine(build, "membership", operator, right, build.ctx(build.claims(members=tuple(sorted(held)))))
    assert got == (NOT_EVALUABLE if expected is None else as_outcome(expected))


@given(
    st.sets(st.sampled_from(["OrganizationCredential", "MembershipCredential"])),
    st.sampled_from(SET_OPERATORS),
    st.one_of(
        st.sampled_from(["OrganizationCredential", "MembershipCredential", "X"]),
        st.lists(st.sampled_from(["OrganizationCredential", "MembershipCredential", "X"]), min_size=1),
    ),
)
def test_set_operators_on_credential_types(build: Any, held: set[str], operator: str, right: Any) -> None:
    claims = build.claims(
        country="DE" if "OrganizationCredential" in held else None,
        members=("m",) if "MembershipCredential" in held else (),
    )
    expected = reference_set(operator, held, right)
    got = engine(build, "credentialType", operator, right, build.ctx(claims))
    assert got == (NOT_EVALUABLE if expected is None else as_outcome(expected))


# -- single strings ---------------------------------------------------------------------------------------------------


def reference_choice(operator: str, value: str, names: list[str]) -> bool:
    if operator == "eq":
        return value in names
    if operator == "neq":
        return value not in names
    if operator in ("isAnyOf", "isPartOf"):
        return value in names
    return value not in names  # isNoneOf


@given(words, st.sampled_from(CHOICE_OPERATORS), st.one_of(words, word_lists))
def test_choice_operators_on_purpose(build: Any, purpose: str, operator: str, right: Any) -> None:
    got = engine(build, "purpose", operator, right, build.ctx(None, purpose=purpose))
    if operator in ("eq", "neq") and not isinstance(right, str):
        assert got == NOT_EVALUABLE  # eq and neq compare with one value
    else:
        assert got == as_outcome(reference_choice(operator, purpose, [right] if isinstance(right, str) else right))


places = st.sampled_from(["EU", "EEA", "ASEAN", "G7", "DE", "JP", "NO", "US", "TL", "eu"])
countries = st.sampled_from(["DE", "FR", "NO", "IS", "CH", "JP", "US", "TL", "SG", "BR"])


def expand(name: str) -> set[str]:
    upper = name.upper()
    return set(BUILTIN_REGIONS[upper]) if upper in BUILTIN_REGIONS else {upper}


@given(countries, st.sampled_from(CHOICE_OPERATORS), st.one_of(places, st.lists(places, min_size=1, max_size=3)))
def test_choice_operators_on_country_with_regions(build: Any, country: str, operator: str, right: Any) -> None:
    got = engine(build, "countryOfEstablishment", operator, right, build.ctx(build.claims(country=country)))
    if operator in ("eq", "neq") and not isinstance(right, str):
        assert got == NOT_EVALUABLE
        return
    members: set[str] = set()
    for name in [right] if isinstance(right, str) else right:
        members |= expand(name)
    assert got == as_outcome(reference_choice(operator, country, sorted(members)))


# -- numbers and instants ---------------------------------------------------------------------------------------------


def compare(operator: str, left: Any, right: Any) -> bool:
    return {
        "eq": left == right,
        "neq": left != right,
        "lt": left < right,
        "lteq": left <= right,
        "gt": left > right,
        "gteq": left >= right,
    }[operator]


@given(st.integers(0, 20), st.sampled_from(ORDER_OPERATORS), st.integers(-3, 25), st.booleans())
def test_order_operators_on_count(build: Any, before: int, operator: str, bound: int, as_text: bool) -> None:
    got = engine(build, "count", operator, str(bound) if as_text else bound, build.ctx(None, use_count=before))
    assert got == as_outcome(compare(operator, before + 1, bound))


moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))


@given(moments, st.sampled_from(ORDER_OPERATORS), st.integers(-3 * 86400, 3 * 86400))
def test_order_operators_on_date_time_instants(build: Any, now: datetime, operator: str, shift: int) -> None:
    bound = (now + timedelta(seconds=shift)).replace(microsecond=0)
    got = engine(build, "dateTime", operator, bound.isoformat(), build.ctx(None, now=now))
    assert got == as_outcome(compare(operator, now, bound))


@given(moments, st.sampled_from(ORDER_OPERATORS), st.integers(-3, 3))
def test_order_operators_on_date_time_against_whole_days(build: Any, now: datetime, operator: str, days: int) -> None:
    day: date = now.date() + timedelta(days=days)
    got = engine(build, "dateTime", operator, day.isoformat(), build.ctx(None, now=now))
    assert got == as_outcome(compare(operator, now.date(), day))  # the day of `now` against the whole day


@given(
    moments, st.sampled_from(["+05:30", "-08:00", "+14:00"]), st.sampled_from(ORDER_OPERATORS), st.integers(-600, 600)
)
def test_date_time_offsets_are_honoured(build: Any, now: datetime, zone: str, operator: str, minutes: int) -> None:
    sign = 1 if zone[0] == "+" else -1
    offset = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    bound = (now + timedelta(minutes=minutes)).replace(microsecond=0).astimezone(offset)
    got = engine(build, "dateTime", operator, bound.isoformat(), build.ctx(None, now=now))
    assert got == as_outcome(compare(operator, now, bound))


# -- durations --------------------------------------------------------------------------------------------------------


def add_calendar(start: datetime, months: int, days: int, seconds: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    day = start.day
    while True:
        try:
            moved = start.replace(year=year, month=month + 1, day=day)
            break
        except ValueError:
            day -= 1
    return moved + timedelta(days=days, seconds=seconds)


@settings(max_examples=200)
@given(
    moments,
    st.integers(0, 120 * 86400),
    st.sampled_from(["eq", "lt", "lteq", "gt", "gteq"]),
    st.integers(0, 3),
    st.integers(0, 60),
    st.integers(0, 86399),
)
def test_order_operators_on_elapsed_time(
    build: Any, now: datetime, age: int, operator: str, months: int, days: int, seconds: int
) -> None:
    agreed = now - timedelta(seconds=age)
    text = f"P{months}M{days}DT{seconds}S"
    got = engine(build, "elapsedTime", operator, text, build.ctx(None, now=now, agreement_time=agreed))
    deadline = add_calendar(agreed, months, days, seconds)
    assert got == as_outcome(compare("lteq" if operator == "eq" else operator, now, deadline))
