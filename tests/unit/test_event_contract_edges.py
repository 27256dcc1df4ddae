"""The event contract at its edges: each limit tried at exactly the limit and one past it, each
envelope's refusals with their reasons, and defaults that decide what reaches Coveo."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from connector.domain.events import ItemDelete, item_key, ledger_key
from connector.domain.pipeline import Disposition, Message
from tests.handler.conftest import make_pipeline
from tests.unit.test_events import cloud_event, parse, refusal


def eventbridge(**fields: Any) -> dict[str, Any]:
    event = {
        "id": "eb-1",
        "detail-type": "item.deleted",
        "source": "urn:producer",
        "time": "2026-11-26T10:00:00Z",
        "detail": {"documentId": "file://a"},
    }
    return {k: v for k, v in {**event, **fields}.items() if v is not ...}


def at(time: str) -> dict[str, Any]:
    return cloud_event("item.deleted", {"documentId": "file://a"}, time=time)


# --- ledger keys: the key a row is stored under must not move between releases --------------------


def test_a_key_of_exactly_1024_bytes_stays_readable_and_one_byte_more_is_hashed() -> None:
    # "item#" + "file://" is 12 bytes.
    at_limit = "file://" + "a" * (1024 - 12)
    past = "file://" + "a" * (1025 - 12)
    assert item_key(at_limit) == f"item#{at_limit}"
    assert item_key(past) == f"item#sha256 {hashlib.sha256(past.encode()).hexdigest()}"


def test_the_readable_limit_counts_utf8_bytes_not_characters() -> None:
    name = "é" * 507  # 1,014 bytes; with "identity#p#GROUP#" (17 bytes) 1,031
    assert ledger_key("identity#p#GROUP", name) == (
        f"identity#p#GROUP#sha256 {hashlib.sha256(name.encode()).hexdigest()}"
    )
    assert ledger_key("identity#p#GROUP", "é" * 503) == "identity#p#GROUP#" + "é" * 503  # 1,023 bytes


# --- envelopes -----------------------------------------------------------------------------------


def test_a_null_body_or_sns_message_is_called_null() -> None:
    assert refusal("null") == "message body is null, not a JSON object"
    sns = {"Type": "Notification", "MessageId": "m", "Message": None}
    assert refusal(sns).startswith("SNS notification's 'Message' is null;")


def test_a_cloudevent_with_a_detail_extension_attribute_is_still_a_cloudevent() -> None:
    # "detail" is a valid CloudEvents extension name; only "detail-type" and "detail" together
    # make an EventBridge event.
    event = cloud_event("item.deleted", {"documentId": "file://a", "version": 3}, detail="audit")
    change = parse(event)
    assert (change.event_id, change.version, change.payload) == ("e-1", 3, ItemDelete("file://a", False))


@pytest.mark.parametrize("name", ["id", "source", "type"])
@pytest.mark.parametrize("value", [None, "", "   ", 5, ["x"]])
def test_cloudevent_id_source_and_type_must_be_non_empty_strings(name: str, value: Any) -> None:
    event = {**cloud_event("item.deleted", {"documentId": "file://a", "version": 1}), name: value}
    assert refusal(event) == f"CloudEvent attribute {name!r} must be a non-empty string"


@pytest.mark.parametrize("event_id", [..., None, "", "   ", 5])
def test_an_eventbridge_event_needs_an_id(event_id: Any) -> None:
    assert refusal(eventbridge(id=event_id)) == "EventBridge event's 'id' must be a non-empty string"


@pytest.mark.parametrize("detail_type", [None, 5, ["item.deleted"]])
def test_an_eventbridge_detail_type_must_be_a_string(detail_type: Any) -> None:
    reason = refusal(eventbridge(**{"detail-type": detail_type}))
    assert reason == "EventBridge event's 'detail-type' must be a string (the event type)"


@pytest.mark.parametrize("source", [None, 5, {"name": "x"}])
def test_an_eventbridge_source_must_be_a_string(source: Any) -> None:
    assert refusal(eventbridge(source=source)) == "EventBridge event's 'source' must be a string"


@pytest.mark.parametrize("envelope", ["cloudevent", "eventbridge"])
def test_an_event_id_of_exactly_1024_characters_is_accepted_and_1025_refused(envelope: str) -> None:
    def with_id(event_id: str) -> dict[str, Any]:
        if envelope == "eventbridge":
            return eventbridge(id=event_id)
        return cloud_event("item.deleted", {"documentId": "file://a", "version": 1}, id=event_id)

    assert parse(with_id("e" * 1024)).event_id == "e" * 1024
    assert "is 1,025 characters; at most 1,024" in refusal(with_id("e" * 1025))


# --- times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time", "version"),
    [
        ("2026-11-26T10:00:00+23:59", 1_795_600_860_000),
        ("2026-11-26T10:00:00-23:59", 1_795_773_540_000),
        ("2026-11-26T10:00:00+23:00", 1_795_604_400_000),
        ("2026-11-26T10:00:00+05:59", 1_795_665_660_000),
    ],
)
def test_zone_offsets_up_to_23_59_are_accepted(time: str, version: int) -> None:
    assert parse(at(time)).version == version


@pytest.mark.parametrize("zone", ["+24:00", "-24:00", "+00:60", "+23:60", "-05:99"])
def test_zone_offsets_past_23_59_are_refused(zone: str) -> None:
    time = f"2026-11-26T10:00:00{zone}"
    assert refusal(at(time)) == f"event time {time!r} is not a valid date-time (zone offset out of range)"


def test_a_long_bad_time_is_shown_cut_to_80_characters() -> None:
    time = "x" * 300
    shown = repr(time)[:79] + "…"
    assert refusal(at(time)).startswith(f"event time {shown} is not an RFC 3339 date-time;")


# --- versions and defaults -----------------------------------------------------------------------


@pytest.mark.parametrize("type_", ["identity.upserted", "identity.deleted"])
def test_an_identity_version_may_be_0_not_below(type_: str) -> None:
    data = {"identity": {"name": "g", "type": "GROUP"}}
    assert parse(cloud_event(type_, {**data, "version": 0})).version == 0
    assert refusal(cloud_event(type_, {**data, "version": -1})) == (
        "data.version: Input should be greater than or equal to 0 "
        "(versions are integers from 0 to 2**63-1, Coveo's orderingId range)"
    )


def test_a_version_in_the_wrong_place_is_not_explained_as_a_range_problem() -> None:
    event = cloud_event("identity.upserted", {"identity": {"name": "g", "type": "GROUP", "version": 3}})
    assert refusal(event) == "data.identity.version: Extra inputs are not permitted"


def test_a_delete_without_delete_children_deletes_only_the_item() -> None:
    pipeline = make_pipeline("item")
    event = cloud_event("item.deleted", {"documentId": "file://folder/a", "version": 1})
    report = pipeline.process([Message("m", json.dumps(event))], lambda: 60.0)
    assert report.outcomes["m"].disposition is Disposition.PUSHED
    [call] = pipeline.coveo.calls  # type: ignore[attr-defined]
    assert (call.name, call.target, call.payload) == ("delete_item", "file://folder/a", False)


# --- document ids --------------------------------------------------------------------------------


def test_a_document_id_of_exactly_2048_characters_is_accepted_and_2049_refused() -> None:
    def with_id(document_id: str) -> dict[str, Any]:
        return cloud_event("item.deleted", {"documentId": document_id, "version": 1})

    at_limit = "file://" + "a" * (2048 - 7)
    assert parse(with_id(at_limit)).subject == at_limit
    assert refusal(with_id(at_limit + "a")) == "data.documentId is 2,049 characters; at most 2,048"


def test_a_long_bad_document_id_is_shown_cut_to_120_characters() -> None:
    document_id = "not a uri " + "x" * 500
    shown = repr(document_id)[:119] + "…"
    reason = refusal(cloud_event("item.deleted", {"documentId": document_id, "version": 1}))
    assert reason.startswith(f"data.documentId {shown} is not a URI;")


def test_a_long_specversion_is_shown_cut_to_200_characters() -> None:
    specversion = "1" * 300
    shown = repr(specversion)[:199] + "…"
    event = {
        **cloud_event("item.deleted", {"documentId": "file://a", "version": 1}),
        "specversion": specversion,
    }
    assert refusal(event) == f"unsupported CloudEvents specversion {shown}; expected the string '1.0'"
