"""What the ledger keeps of a change: written once, read strictly, and turned back into the very
change that was pushed (a re-push must push what arrived, nothing more, nothing less)."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest

from connector.domain.events import parse_message
from connector.domain.stored_change import StoredChange, UnreadableStoredChange, declared_public_in
from tests import worked_example as wx
from tests.unit.test_events import PERMISSIONS, cloud_event

EVENTS = [
    cloud_event(
        "item.upserted",
        {
            "documentId": "file://a",
            "version": 7,
            "document": {"data": "é ✓", "title": "A", "permissions": PERMISSIONS},
        },
    ),
    cloud_event(
        "item.upserted",
        {
            "documentId": "file://ref",
            "version": 2,
            "document": {"permissions": PERMISSIONS},
            "contentRef": "s3://bucket/k",
        },
    ),
    cloud_event("item.deleted", {"documentId": "file://a", "version": 8, "deleteChildren": True}),
    cloud_event("identity.upserted", {**wx.group_wire(), "version": 3}),
    cloud_event("identity.aliased", {**wx.alias_wire("alice"), "version": 4}),
    cloud_event("identity.deleted", {"identity": {"name": "AlphaTeam", "type": "GROUP"}, "version": 5}),
    # No data.version: the event time stands for it, and the stored change keeps the number.
    {**cloud_event("item.deleted", {"documentId": "file://t"}), "time": "2026-11-30T10:00:00.5Z"},
]


def change_of(event: dict[str, Any]) -> Any:
    return parse_message(json.dumps(event), provider_id=wx.PROVIDER_ID)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: f"{e['type']}:{e['data'].get('documentId', '')}")
def test_a_stored_change_reads_back_into_the_change_that_was_pushed(event: dict[str, Any]) -> None:
    change = change_of(event)
    stored = StoredChange.decode(StoredChange.of(change).encode())
    again = stored.to_change(provider_id=wx.PROVIDER_ID)
    assert again == change  # id, type, key, version, subject and the typed payload
    # The data as it arrived; a version the event time stood for is now written out.
    assert again.data == {**change.data, "version": change.version}


@pytest.mark.parametrize("event", EVENTS[:3], ids=lambda e: e["type"])
def test_a_re_push_dead_letter_body_is_an_event_that_redrives_into_the_same_change(
    event: dict[str, Any],
) -> None:
    change = change_of(event)
    body = StoredChange.of(change).to_event_json("coveo-push/validator")
    assert parse_message(body, provider_id=wx.PROVIDER_ID) == change
    assert json.loads(body)["source"] == "coveo-push/validator"


def test_rows_written_before_the_type_existed_still_read() -> None:
    """The bytes are what the pipeline has always written: existing ledgers keep working."""
    legacy = {
        "id": "e-1",
        "type": "item.deleted",
        "version": 9,
        "data": {"documentId": "file://a", "version": 9},
    }
    packed = zlib.compress(json.dumps(legacy, separators=(",", ":")).encode())
    assert StoredChange.decode(packed) == StoredChange("e-1", "item.deleted", 9, legacy["data"])  # type: ignore[arg-type]


def packed(value: Any) -> bytes:
    return zlib.compress((value if isinstance(value, str) else json.dumps(value)).encode())


GOOD = {"id": "e", "type": "item.deleted", "version": 1, "data": {"documentId": "file://a"}}


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"not zlib at all", "unreadable"),
        (packed("[1, 2]"), "not an event object"),
        (packed('{"id": "e", "id": "f", "type": "item.deleted", "version": 1, "data": {}}'), "twice"),
        (packed({**GOOD, "version": True}), "no integer version"),
        (packed({**GOOD, "version": "1"}), "no integer version"),
        (packed({**GOOD, "version": 1.0}), "no integer version"),
        (packed({k: v for k, v in GOOD.items() if k != "id"}), "lacks"),
        (packed({**GOOD, "type": 3}), "lacks"),
        (packed({**GOOD, "data": "x"}), "lacks"),
        (packed('{"id": "e", "type": "item.deleted", "version": NaN, "data": {}}'), "NaN"),
    ],
)
def test_unreadable_stored_changes_are_refused_not_guessed(raw: bytes, why: str) -> None:
    with pytest.raises(UnreadableStoredChange, match=why):
        StoredChange.decode(raw)
    assert declared_public_in(raw) is False


def test_only_the_literal_true_in_the_stored_event_declares_an_item_public() -> None:
    public = {
        **GOOD,
        "type": "item.upserted",
        "data": {"document": {"permissions": [{"allowAnonymous": True}]}},
    }
    assert declared_public_in(packed(public)) is True
    for value in ("true", 1, None):
        coerced = {**public, "data": {"document": {"permissions": [{"allowAnonymous": value}]}}}
        assert declared_public_in(packed(coerced)) is False
    assert declared_public_in(None) is False


def test_the_events_time_is_kept_so_a_re_push_measures_freshness_from_the_event() -> None:
    """Epoch ms, exact (no float on the way), through the bytes, the change and a redrive body."""
    event = {**EVENTS[0], "time": "2026-11-30T10:00:00.123Z"}
    change = change_of(event)
    assert change.time_ms == 1_796_032_800_123
    stored = StoredChange.decode(StoredChange.of(change).encode())
    assert stored.time_ms == change.time_ms
    assert stored.to_change(provider_id=wx.PROVIDER_ID).time_ms == change.time_ms
    body = json.loads(stored.to_event_json("coveo-push/validator"))
    assert body["time"] == "2026-11-30T10:00:00.123Z"
    assert parse_message(json.dumps(body), provider_id=wx.PROVIDER_ID).time_ms == change.time_ms
    # An event without a time stores none, and reads back as none.
    untimed = StoredChange.decode(StoredChange.of(change_of(EVENTS[0])).encode())
    assert untimed.time_ms is None and "time" not in json.loads(untimed.to_event_json("s"))


def test_a_time_that_is_not_epoch_milliseconds_is_unreadable() -> None:
    document = {"id": "e", "type": "item.deleted", "version": 1, "data": {"documentId": "file://a"}}
    for bad in ("2026-11-30T10:00:00Z", 1.5, True):
        with pytest.raises(UnreadableStoredChange, match="time"):
            StoredChange.decode(packed({**document, "time": bad}))
