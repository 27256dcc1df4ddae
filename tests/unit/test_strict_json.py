"""The one JSON reader: what Python's `json` takes and Coveo does not is refused, each with its reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.strict_json import MAX_DEPTH, JsonRefused, loads, printable


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": 1, "a": 2}', "has the key 'a' twice in one object"),
        ('{"p": [{"allowAnonymous": false, "allowAnonymous": true}]}', "'allowAnonymous' twice"),
        ('{"x": NaN}', "holds NaN, which is not JSON"),
        ('{"x": Infinity}', "holds Infinity"),
        ('{"x": -Infinity}', "holds -Infinity"),
        ('{"x": 1e400}', "the number 1e400, which is too large"),
        ('{"x": "\\ud800"}', "unpaired UTF-16 surrogate at x"),
        ('{"a": {"b": ["ok", "\\udc00"]}}', "unpaired UTF-16 surrogate at a.b[1]"),
        ('{"\\ud83d": 1}', "unpaired UTF-16 surrogate"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"deeper than {MAX_DEPTH} levels"),
        ("[" * 100_000, f"deeper than {MAX_DEPTH} levels"),  # would be RecursionError in json
        ('{"a": ', "is not JSON"),
        ("", "is not JSON"),
        ("1" * 5000, "is not JSON"),  # past Python's int digit limit: a ValueError of another kind
    ],
)
def test_refusals_have_their_own_reason(text: str, reason: str) -> None:
    with pytest.raises(JsonRefused) as refused:
        loads(text)
    assert reason in refused.value.reason
    assert refused.value.reason.startswith("message body ")


def test_what_python_takes_that_we_refuse_would_have_changed_a_permission() -> None:
    """The reason this module exists: the lenient reader keeps the last of two keys."""
    text = '{"permissions": [{"allowAnonymous": false}], "permissions": [{"allowAnonymous": true}]}'
    assert json.loads(text)["permissions"][0]["allowAnonymous"] is True
    with pytest.raises(JsonRefused, match="'permissions' twice"):
        loads(text)


def test_valid_json_reads_as_python_reads_it() -> None:
    text = '{"a": [1, 2.5, "\\ud83d\\ude00", true, null], "b": {"c": "é"}}'
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(nested) == json.loads(nested)  # exactly the limit is fine
    # Brackets inside strings are text, not nesting.
    assert loads(json.dumps({"t": "[" * 500})) == {"t": "[" * 500}


def test_a_raw_lone_surrogate_in_the_text_is_refused() -> None:
    with pytest.raises(JsonRefused, match="surrogate at id"):
        loads('{"id": "\ud800"}')


def test_bytes_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(JsonRefused, match="not UTF-8"):
        loads(b'{"a": "\xff"}')


def test_what_names_the_text_in_the_reason() -> None:
    with pytest.raises(JsonRefused, match=r"^stored change has the key"):
        loads('{"a": 1, "a": 1}', what="stored change")


def test_printable_keeps_reasons_sendable() -> None:
    text = printable("id\ud800\x00\n" + "x" * 500, 50)
    text.encode("utf-8")  # no lone surrogate left
    assert len(text) <= 50 and "\\x00" in text and "\\ud800" in text


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_any_text_gives_a_value_or_a_refusal_and_nothing_else(text: str) -> None:
    try:
        loads(text)
    except JsonRefused as refused:
        assert refused.reason
    # any other exception fails the test


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(json_like)
def test_any_json_python_writes_reads_back_unchanged(value: object) -> None:
    text = json.dumps(value)
    try:
        assert loads(text) == value
    except JsonRefused as refused:  # only for what the reader exists to refuse
        assert "surrogate" in refused.reason or "deeper" in refused.reason, refused.reason


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"data": {"document": {"size": NaN}}}', "(at data.document.size)"),
        ('{"data": {"document": {"p": [1], "p": [2]}}}', "(at data.document.p)"),
        ('{"data": [0, {"n": -1e999}]}', "(at data[1].n)"),
    ],
)
def test_refusals_name_the_field(text: str, where: str) -> None:
    with pytest.raises(JsonRefused) as refused:
        loads(text)
    assert refused.value.reason.endswith(where)


@pytest.mark.parametrize("value", [None, 5, ["{}"], memoryview(b"{}")])
def test_what_is_not_text_or_bytes_is_refused_not_a_type_error(value: object) -> None:
    with pytest.raises(JsonRefused) as refused:
        loads(value)  # type: ignore[arg-type]
    assert refused.value.reason == f"message body is a {type(value).__name__}, not text"


def test_printable_keeps_text_of_exactly_the_limit_and_marks_a_cut() -> None:
    assert printable("x" * 50, 50) == "x" * 50
    assert printable("x" * 51, 50) == "x" * 49 + "…"
    assert printable("x" * 500, 50) == "x" * 49 + "…"
