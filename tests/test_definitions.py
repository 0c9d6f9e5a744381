"""What workflow code hands the engine (definitions.py): retry policies and payloads are refused
where they are made, or are storable -- a finite delay, UTF-8 JSON."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from enum import IntEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replaytest import PayloadError, RetryPolicy
from replaytest.definitions import MAX_SECONDS, to_payload


def test_retry_delay_never_overflows_however_many_attempts() -> None:
    assert RetryPolicy().delay(5000) == 100.0
    assert RetryPolicy(initial_interval=0.5, backoff_coefficient=3, maximum_interval=7).delay(10**6) == 7.0
    assert RetryPolicy(backoff_coefficient=1.0).delay(10**6) == 1.0


NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10, 10**400),
    st.timedeltas(),
    # values in range as often as out of it, so a refusal of valid policies shows
    st.floats(min_value=0, max_value=1000),
    st.integers(0, 1000),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=365)),
)


@settings(max_examples=300, deadline=None)
@given(
    initial=NUMBERS,
    coefficient=NUMBERS,
    cap=NUMBERS,
    attempts=st.integers(-3, 10**4) | st.integers(-3, 5),
    attempt=st.integers(1, 10**7),
)
def test_a_retry_policy_is_refused_where_it_is_made_or_its_delays_are_storable(
    initial, coefficient, cap, attempts, attempt
) -> None:
    """A RetryPolicy fails ``to_dict`` (where ``execute_activity`` issues it: the user's line) with
    a ReplaytestError exactly when one of its values is out of range; otherwise it gives a finite
    delay in [0, maximum_interval] for every attempt."""
    from replaytest import ReplaytestError

    policy = RetryPolicy(
        initial_interval=initial, backoff_coefficient=coefficient, maximum_interval=cap, maximum_attempts=attempts
    )
    valid = _duration(initial) and _duration(cap) and _coefficient(coefficient) and attempts >= 0
    try:
        d = policy.to_dict()
    except ReplaytestError as e:
        assert not valid, f"a valid policy was refused: {e}"
        return
    assert valid, f"an invalid policy was accepted: {policy}"
    delay = policy.delay(attempt)
    assert 0 <= delay <= max(d["maximum_interval"], 0) or delay == 0
    assert delay * 1000 < 2**62  # a due time SQLite can store


def _duration(value: Any) -> bool:
    """A duration RetryPolicy accepts: a timedelta or number of seconds in [0, 100 years]."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    return not isinstance(value, bool) and 0 <= value <= MAX_SECONDS


def _coefficient(value: Any) -> bool:
    """A backoff coefficient RetryPolicy accepts: a finite number (not a timedelta) of at least 1."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return 1 <= float(value) < math.inf
    except OverflowError:  # an integer no float holds
        return False


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.text(st.characters(codec=None, exclude_categories=())) | st.integers() | st.floats(),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(st.characters(exclude_categories=()), max_size=3), inner, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_a_payload_is_refused_exactly_when_utf8_json_cannot_hold_it(value: Any) -> None:
    """Refused where it is passed (naming it) when it holds a lone surrogate or a number JSON has
    no text for; every other value is stored and reads back equal."""
    try:
        stored = to_payload(value, "the value")
    except PayloadError as e:
        assert not plain_json(value), f"a plain JSON value was refused: {e}"
        assert str(e).startswith("the value ")
        return
    assert plain_json(value), f"stored a value UTF-8 JSON cannot hold: {value!r}"
    assert stored == value
    json.dumps(stored, ensure_ascii=False).encode("utf-8")


def plain_json(value: Any) -> bool:
    """What JSON text in UTF-8 holds: None, booleans, integers, finite floats, valid Unicode
    text, and lists and string-keyed dicts of those."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int):
        return abs(value) < 10**4300  # Python writes no longer decimal text
    if isinstance(value, str):
        return _unicode(value)
    if isinstance(value, list):
        return all(plain_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _unicode(k) and plain_json(v) for k, v in value.items())
    return value is None


def _unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Level(IntEnum):
    HIGH = 1


class _Tag(str):
    pass


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=8),
    st.text(st.characters(max_codepoint=127), min_size=4090, max_size=4100),
    st.sampled_from([_Level.HIGH, _Tag("tag"), "\ud800", "é", -0.0]),
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(SCALARS, st.lists(SCALARS, max_size=70), st.tuples(SCALARS)))
def test_a_payload_of_plain_values_is_what_the_json_round_trip_gives(value: Any) -> None:
    """Strings and numbers skip the JSON round trip (the common case of every activity call):
    what comes back is still exactly what the round trip gives -- the same types (an IntEnum or
    a str subclass becomes plain), a new list -- and what it refuses is still refused."""
    try:
        text = json.dumps(value, allow_nan=False)
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        with pytest.raises(PayloadError):
            to_payload(value, "the value")
        return
    stored = to_payload(value, "the value")
    assert _typed(stored) == _typed(json.loads(text))
    assert stored is not value or not isinstance(value, list)


def _typed(value: Any) -> Any:
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return type(value), repr(value)
